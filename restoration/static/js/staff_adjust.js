// The confirmation names the amount and the balance it leads to: a typo shows before it is booked.
function adjustQuestion(form) {
  // The server's reading of an amount (restoration/dashboard/forms.py MoneyField.TYPED).
  const m = /^\s*([+-]?)\s*[$€£]?\s*([+-]?)\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d*)?\s*$/.exec(String(form.amount.value));
  const typed = m && !(m[1] && m[2]) ? Number(((m[1] + m[2]).includes("-") ? "-" : "") + m[3].replace(/,/g, "") + (m[4] || "")) : NaN;
  const generic = `Apply this adjustment to the wallet of ${form.dataset.organization} now? The balance changes at once and the entry stays in the ledger.`;
  if (!Number.isFinite(typed) || typed === 0) return generic;
  const money = new Intl.NumberFormat("en-US", { style: "currency", currency: form.dataset.currency || "USD" });
  const balance = Number(form.dataset.balance) / 100;
  const verb = typed > 0 ? "Credit" : "Debit";
  return `${verb} ${money.format(Math.abs(typed))} ${typed > 0 ? "to" : "from"} the wallet of ${form.dataset.organization}? The balance goes from ${money.format(balance)} to ${money.format(balance + typed)} at once, and the entry stays in the ledger.`;
}
