#!/usr/bin/env python3
"""Opens a `caucus cards report --html` page in headless Chromium and prints, as one JSON object,
what a reader of the page would see: the figures (every element with a data-figure attribute, in
page order), the chart's points and threshold lines, the texts of the name cells and rejected
items, how many img, script, iframe, object, embed and link elements the page holds, every
request the page made, any dialog it opened, and the console's messages. It also prints the page
to PDF and takes a screenshot of the whole page.

    scripts/report-browser.py REPORT.html --pdf OUT.pdf --screenshot OUT.png

It drives Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe), with Python's
standard library only. The page's own Content Security Policy stays in force; the figures are read
by the DevTools protocol's Runtime.evaluate, which that policy does not govern. Exit status 0 when
the page loaded, 1 otherwise (the checks themselves are the caller's).
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READ_PAGE = r"""
(() => {
  const attrs = (el, names) => Object.fromEntries(names.map(n => [n, el.getAttribute(n)]));
  return {
    title: document.title,
    figures: [...document.querySelectorAll('[data-figure]')].map(el => ({
      name: el.dataset.figure, text: el.textContent,
      section: el.closest('section') ? el.closest('section').id : null })),
    points: [...document.querySelectorAll('#progress-chart circle.point')].map(el => ({
      date: el.dataset.date, valid: Number(el.dataset.valid),
      cx: Number(el.getAttribute('cx')), cy: Number(el.getAttribute('cy')) })),
    polyline: (() => { const p = document.querySelector('#progress-chart polyline');
      return p ? p.getAttribute('points').trim().split(/\s+/).map(xy => xy.split(',').map(Number)) : null; })(),
    thresholds: [...document.querySelectorAll('#progress-chart line.threshold')].map(el => ({
      key: el.dataset.threshold, cards: Number(el.dataset.cards),
      y1: Number(el.getAttribute('y1')), y2: Number(el.getAttribute('y2')) })),
    signer_names: [...document.querySelectorAll('#signers tr.signer td.name')].map(el => el.textContent),
    not_signed_names: [...document.querySelectorAll('#not-signed tr.person td.name')].map(el => el.textContent),
    rejected_items: [...document.querySelectorAll('#rejected li.rejected-item')].map(el => el.textContent),
    groups: [...document.querySelectorAll('#groups tr.group')].map(row =>
      [...row.querySelectorAll('td')].map(td => td.textContent)),
    elements: Object.fromEntries(['img', 'script', 'iframe', 'object', 'embed', 'link', 'form', 'a', 'base'].map(
      tag => [tag, document.getElementsByTagName(tag).length])),
    attributes_on: [...document.querySelectorAll('*')].flatMap(el =>
      [...el.attributes].filter(a => /^on/i.test(a.name)).map(a => el.tagName + '.' + a.name)),
    height: document.documentElement.scrollHeight,
  };
})()
"""


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies and events out)."""

    def __init__(self, executable, profile):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():
            # Copied above 4 first, so that neither lands on the other's target.
            commands, replies = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
                "--remote-debugging-pipe", "about:blank"]
        # 3 and 4 are kept open in the child (pass_fds), where `fds` made them the pipes' ends.
        self.process = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=fds,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def read(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self.read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report")
    parser.add_argument("--pdf")
    parser.add_argument("--screenshot")
    options = parser.parse_args()
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        print("error: chromium is not installed (Debian package `chromium`)", file=sys.stderr)
        return 2
    url = Path(options.report).resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(executable, profile)
        try:
            targets = browser.send("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            session = browser.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                browser.send(f"{domain}.enable", session=session)
            browser.send("Emulation.setDeviceMetricsOverride",
                         {"width": 1000, "height": 800, "deviceScaleFactor": 1, "mobile": False}, session=session)
            browser.send("Page.navigate", {"url": url}, session=session)
            browser.wait_for("Page.loadEventFired")
            result = browser.send("Runtime.evaluate", {"expression": READ_PAGE, "returnByValue": True}, session=session)
            if "exceptionDetails" in result:
                raise RuntimeError(f"reading the page failed: {result['exceptionDetails']}")
            seen = result["result"]["value"]
            if options.screenshot:
                browser.send("Emulation.setDeviceMetricsOverride",
                             {"width": 1000, "height": max(800, int(seen["height"])), "deviceScaleFactor": 1, "mobile": False},
                             session=session)
                shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
                Path(options.screenshot).write_bytes(base64.b64decode(shot["data"]))
            if options.pdf:
                pdf = browser.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True}, session=session)
                Path(options.pdf).write_bytes(base64.b64decode(pdf["data"]))
            # Whatever arrived meanwhile: requests, dialogs, console and log messages.
            seen["requests"] = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
            seen["dialogs"] = [e["params"].get("message") for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]
            seen["console"] = [e["params"]["entry"].get("text") for e in browser.events if e.get("method") == "Log.entryAdded"]
            seen["console"] += [str(e["params"].get("args")) for e in browser.events if e.get("method") == "Runtime.consoleAPICalled"]
            seen["url"] = url
        finally:
            browser.close()
    print(json.dumps(seen, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
