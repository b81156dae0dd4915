"""Telegram update handlers: thin, each calling domain services in ``bot``.

``register`` adds every handler in one visible place.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.callbacks import (
    ACK,
    CHRONOLOGY,
    ENQUIRY,
    NOTIFICATION,
    OVERSIGHT,
    RELINK,
    REPORT,
    TASKS,
    THREAD,
    TIMELINE,
    VISIT,
    pattern,
)
from handlers import (
    alerts,
    away,
    child,
    fallback,
    notification,
    oncall,
    oversight,
    report,
    review,
    start,
    tasks,
    thread,
    updates,
    web,
)
from handlers import (
    help as help_,
)

# Handler groups: before every other handler, and after all of them.
FIRST_GROUP = -1
LAST_GROUP = 100


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(TypeHandler(Update, updates.skip_if_seen), group=FIRST_GROUP)
    app.add_handler(TypeHandler(Update, updates.record_handled), group=LAST_GROUP)
    app.add_handler(CommandHandler("start", start.start, filters=private))
    app.add_handler(CommandHandler("help", help_.help_command, filters=private))
    app.add_handler(CommandHandler("guidance", help_.guidance_command, filters=private))
    app.add_handler(CommandHandler("report", report.report_command, filters=private))
    app.add_handler(CommandHandler("cancel", report.cancel_command, filters=private))
    app.add_handler(CommandHandler("myreports", report.myreports_command, filters=private))
    app.add_handler(CommandHandler("away", away.away_command, filters=private))
    app.add_handler(CommandHandler("back", away.back_command, filters=private))
    app.add_handler(CommandHandler("oncall", oncall.oncall_command, filters=private))
    app.add_handler(CommandHandler("swap", oncall.swap_command, filters=private))
    app.add_handler(CallbackQueryHandler(start.relink_button, pattern=pattern(RELINK)))
    app.add_handler(CommandHandler("tasks", tasks.tasks_command, filters=private))
    app.add_handler(CommandHandler("done", tasks.done_command, filters=private))
    app.add_handler(CommandHandler("visit", tasks.visit_command, filters=private))
    app.add_handler(CommandHandler("compliance", tasks.compliance_command, filters=private))
    app.add_handler(CallbackQueryHandler(alerts.acknowledge_button, pattern=pattern(ACK)))
    app.add_handler(CallbackQueryHandler(notification.notification_button,
                                         pattern=pattern(*NOTIFICATION)))
    app.add_handler(CallbackQueryHandler(notification.enquiry_button, pattern=pattern(*ENQUIRY)))
    app.add_handler(CommandHandler("notifications", notification.notifications_command,
                                   filters=private))
    app.add_handler(CommandHandler("s47", notification.s47_command, filters=private))
    app.add_handler(CommandHandler("dbsreferral", notification.dbs_command, filters=private))
    app.add_handler(CommandHandler("notnotifiable", notification.not_notifiable_command,
                                   filters=private))
    app.add_handler(CommandHandler("overdue", review.overdue_command, filters=private))
    app.add_handler(CommandHandler("open", review.open_command, filters=private))
    app.add_handler(CommandHandler("log", review.log_command, filters=private))
    app.add_handler(CommandHandler("stats", review.stats_command, filters=private))
    app.add_handler(CommandHandler("export", review.export_command, filters=private))
    app.add_handler(CommandHandler("child", child.child_command, filters=private))
    app.add_handler(CommandHandler("web", web.web_command, filters=private))
    app.add_handler(CallbackQueryHandler(child.child_button, pattern=pattern(*CHRONOLOGY)))
    app.add_handler(CommandHandler("oversee", oversight.oversee_command, filters=private))
    app.add_handler(CallbackQueryHandler(oversight.oversee_button, pattern=pattern(*OVERSIGHT)))
    app.add_handler(CallbackQueryHandler(review.log_button, pattern=pattern(*TIMELINE)))
    app.add_handler(CallbackQueryHandler(report.draft_button, pattern=pattern(*REPORT)))
    app.add_handler(CallbackQueryHandler(thread.thread_button, pattern=pattern(*THREAD)))
    app.add_handler(CallbackQueryHandler(tasks.tasks_button, pattern=pattern(*TASKS)))
    app.add_handler(CallbackQueryHandler(tasks.visit_button, pattern=pattern(*VISIT)))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, report.text_message))
    app.add_handler(MessageHandler(private & (filters.PHOTO | filters.VOICE | filters.VIDEO_NOTE
                                              | filters.VIDEO | filters.Document.ALL),
                                   thread.media_message))
    # Last: anything else (unknown commands, stray buttons, other media).
    app.add_handler(MessageHandler(private & filters.COMMAND, fallback.unknown_command))
    app.add_handler(CallbackQueryHandler(fallback.unknown_button))
    app.add_handler(MessageHandler(private & ~filters.COMMAND & ~filters.TEXT, fallback.other_message))
