// Log-out page (a link target for the viewer): the button POSTs /api/logout.
// It does not log out on load, so a link from another site cannot end a session.
import { logout } from './api.js';

document.getElementById('logout').addEventListener('click', () => logout());
