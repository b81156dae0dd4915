// The Telegram Mini App sign-in: Telegram passes the signed initData in the page's
// fragment (#tgWebAppData=...); it is posted to the server, which checks the signature.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.hash.slice(1));
  var data = params.get("tgWebAppData");
  var status = document.getElementById("miniapp-status");
  if (!data) {
    status.textContent = "Open the console from the bot's menu button in Telegram, " +
      "or send /web to the bot for a sign-in link.";
    return;
  }
  document.getElementById("miniapp-initdata").value = data;
  document.getElementById("miniapp-form").submit();
}());
