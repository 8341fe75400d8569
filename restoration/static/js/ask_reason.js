// A staff form with data-ask-reason asks why before it is sent (the browser's prompt) and sends
// the answer as its "reason" field. Cancel sends nothing; an empty answer sends nothing either
// and says why, so the click does not look ignored. The server refuses such a form without a
// reason all the same.
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.askReason) return;
  const reason = prompt(form.dataset.askReason);
  if (reason === null) {
    event.preventDefault();
    return;
  }
  if (!reason.trim()) {
    event.preventDefault();
    alert("Nothing was changed: a reason is required, and it is kept in the audit trail.");
    return;
  }
  form.elements.reason.value = reason;
});
