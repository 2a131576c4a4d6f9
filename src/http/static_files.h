// Static web content: Tresor's own pages under /app (from <web_root>/app)
// and the OHIF viewer at the site root (from <web_root>/ohif/dist, installed
// by `make web`, never committed).
// Contract:
//  - only the log-in page and its scripts and styles (/app/login.html,
//    /app/js/*, /app/css/*) are served without a session; every other page
//    is Auth::page: a browser without a session is sent to the log-in page
//    and comes back afterwards;
//  - paths are resolved under the web root only: no dot segments or hidden
//    files, no symbolic links followed, regular files only;
//  - unknown viewer paths without a file extension fall back to OHIF's
//    index.html (it routes on the client); paths under /api, /dicom-web and
//    /wado never fall back (404);
//  - the viewer gets OHIF's Content-Security-Policy with the SHA-256 hashes of
//    its inline scripts, and 'unsafe-eval' only on the worker scripts listed
//    in <web_root>/ohif/dist/tresor-csp.json (its codec worker); Tresor's own
//    pages get a policy without any inline script or eval.
#pragma once
#include <filesystem>
#include "http/router.h"

namespace tresor::http {

// Adds the routes when `web_root` is not empty; a missing viewer bundle only
// disables the viewer (the site root then sends to /app/index.html).
void add_static_routes(Router& router, const std::filesystem::path& web_root);

} // namespace tresor::http
