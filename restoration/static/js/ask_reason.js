// A staff form with data-ask-reason asks why before it is sent (the browser's prompt) and sends
// the answer as its "reason" field; an empty answer or Cancel sends nothing. The server refuses
// such a form without a reason all the same.
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.askReason) return;
  const reason = prompt(form.dataset.askReason);
  if (!reason || !reason.trim()) {
    event.preventDefault();
    return;
  }
  form.elements.reason.value = reason;
});
