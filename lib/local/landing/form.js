// Progressive enhancement of the landing page's forms: with JavaScript, a form posts JSON and shows the API's
// per-field errors next to their fields; without it, the browser's plain urlencoded post and the 303 still work.
for (const form of document.querySelectorAll('form[data-enhance]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const old of form.querySelectorAll('.field-error, .form-error')) old.remove();
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    const data = Object.fromEntries(new FormData(form));
    const redirect = data.redirect;
    delete data.redirect;
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      const res = await fetch(form.action, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(data),
      });
      if (res.status === 202) {
        window.location.assign(redirect || '/thanks.html');
        return;
      }
      const body = await res.json().catch(() => ({}));
      const fields = res.status === 400 && body && typeof body.fields === 'object' ? body.fields : {};
      let shown = 0;
      for (const [name, reason] of Object.entries(fields)) {
        const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
        if (!input) continue;
        const note = document.createElement('p');
        note.className = 'field-error';
        note.id = `${input.id || name}-error`;
        note.textContent = `${input.labels?.[0]?.textContent?.replace(/\(required\)/, '').trim() || name} ${reason}`;
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', note.id);
        input.after(note);
        shown++;
      }
      if (shown === 0) {
        const note = document.createElement('p');
        note.className = 'form-error';
        note.setAttribute('role', 'alert');
        note.textContent = (body && body.message) || 'Something went wrong; please try again.';
        form.prepend(note);
      }
    } finally {
      if (button) button.disabled = false;
    }
  });
}
