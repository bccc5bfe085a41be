#!/usr/bin/python3
"""bench_web.py — `make bench-web`: the web portal's bundle sizes and how fast
its pages load in Chromium under the DevTools "Slow 3G" network (2000 ms per
request, 500 kbit/s) with a 4x CPU slowdown.

  sizes     build/web/sizes.json: first-load JS+CSS per app, raw/gzip/brotli
            (the issue's budget: the citizen app <= 100 KB compressed)
  baseline  a one-request page with one heading, served by Python on loopback
            under the same emulation: the floor the network itself sets
  pages     the citizen start page, the town search (its list a chunk), verify (a
            lazily loaded page) and the staff login, served by nagar-gateway
            with the whole suite behind it (as `make run` lays it out)

For each: largest contentful paint (LCP; the aim is under 2.5 s) and its element, first
contentful paint and bytes transferred, median of --runs runs, first visit
(empty cache) and repeat visit (hashed bundles cached), and LCP as a multiple
of the baseline's. A benchmark, not a test: it reports, and exits non-zero
only when a run could not complete.

  BUILD=build /usr/bin/python3 tests/bench/bench_web.py [--runs 3]
"""
import argparse
import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.environ.setdefault("BUILD", "build")
sys.path.insert(0, os.path.join(ROOT, "tests", "drills"))

from suite import Suite, build_dir, make_base_dir  # noqa: E402

BASELINE = ("<!doctype html><html lang=\"hi\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>baseline</title></head><body><h1>नगर की ऑनलाइन सेवाएँ</h1></body></html>").encode()


class Baseline(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(BASELINE)))
        self.end_headers()
        self.wfile.write(BASELINE)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--web", default="", help="the built apps to serve (default $BUILD/web): "
                        "another build of web/ to compare with, in the same run conditions")
    parser.add_argument("--only", default="", help="measure only these pages (comma-separated names, "
                        "e.g. 'citizen /'); the baseline always")
    args = parser.parse_args()
    web = os.path.abspath(args.web) if args.web else os.path.join(build_dir(), "web")
    if not os.path.exists(os.path.join(web, "sizes.json")):
        sys.exit(f"bench-web: {web} is not built; run `make BUILD={os.path.relpath(build_dir(), ROOT)} all`")
    with open(os.path.join(web, "sizes.json")) as f:
        sizes = json.load(f)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Baseline)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    suite = Suite(make_base_dir())
    try:
        suite.svc_env["NAGAR_GATEWAY_WEB_DIR"] = web
        suite.start_all()
        url = f"http://127.0.0.1:{suite.http_port}"
        pages = [["baseline (one request)", f"http://127.0.0.1:{server.server_address[1]}/"],
                 ["citizen /", url + "/"], ["citizen /town", url + "/town"],
                 ["citizen /verify", url + "/verify"], ["staff /staff/", url + "/staff/"]]
        only = [name.strip() for name in args.only.split(",") if name.strip()]
        pages = [p for p in pages if p[0].startswith("baseline") or not only or p[0] in only]
        env = dict(os.environ, NAGAR_WEB_URL=url, NAGAR_BENCH_PAGES=json.dumps(pages),
                   NAGAR_BENCH_RUNS=str(args.runs),
                   NAGAR_WEB_ARTIFACTS=os.path.join(build_dir(), "web-artifacts"))
        r = subprocess.run(["node", os.path.join(ROOT, "web", "tests", "bench_web.mjs")], env=env,
                           cwd=os.path.join(ROOT, "web"), capture_output=True, text=True,
                           timeout=1800, stdin=subprocess.DEVNULL)
        results = [line[7:] for line in r.stdout.splitlines() if line.startswith("RESULT ")]
        if r.returncode != 0 or not results:
            sys.exit(f"bench-web: the browser run failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        results = json.loads(results[-1])
    finally:
        suite.stop()
        server.shutdown()

    print(f"bench-web: first load of JavaScript and CSS ({os.path.relpath(web, ROOT)}/sizes.json)")
    for app, s in sizes.items():
        print(f"  {app:8} {s['raw'] / 1024:6.1f} KB raw  {s['gzip'] / 1024:5.1f} KB gzip  "
              f"{s['brotli'] / 1024:5.1f} KB brotli   ({len(s['files'])} files)")
    budget = sizes["citizen"]["gzip"] / 1024
    print(f"  citizen budget: {budget:.1f} of 100 KB compressed (gzip; brotli is smaller)")
    print(f"bench-web: Chromium, DevTools Slow 3G (2000 ms, 500 kbit/s), 4x CPU slowdown, "
          f"360 px mobile, median of {args.runs}")
    base = results["baseline (one request)"]["first"]["lcp"] or 1
    print(f"  {'page':24} {'LCP first':>10} {'x base':>7} {'FCP':>7} {'HTML in':>8} {'bytes':>8} "
          f"{'req':>4}   {'LCP repeat':>10} {'bytes':>7}")
    for name, r in results.items():
        first, repeat = r["first"], r["repeat"]
        print(f"  {name:24} {first['lcp']:8d} ms {first['lcp'] / base:6.2f}x {first['fcp']:5d} ms "
              f"{first['html']:5d} ms {first['bytes']:8d} {first['requests']:4d}   "
              f"{repeat['lcp']:8d} ms {repeat['bytes']:7d}")
    print("  the LCP element of a first visit (most runs):")
    for name, r in results.items():
        print(f"    {name:24} {r['first'].get('element', '')}")
    if "citizen /" not in results:
        return
    lcp = results["citizen /"]["first"]["lcp"]
    print(f"bench-web: citizen start page LCP {lcp} ms on a first visit "
          f"({'under' if lcp < 2500 else 'over'} the 2.5 s aim; the one-request floor is {base} ms)")


if __name__ == "__main__":
    main()
