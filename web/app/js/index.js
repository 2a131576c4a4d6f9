// Landing page: shows the Admin and Audit entries only to users with those operations.
import { initPage, may } from './ui.js';

async function main() {
  const me = await initPage();
  if (!me) return;
  document.getElementById('admin').hidden = !may(me, 'admin');
  document.getElementById('audit').hidden = !may(me, 'audit');
}

main();
