// The dashboard in a real browser (Debian's chromium, driven headless by playwright-core):
// a page without a session gets the sign-in page; the CLI's sign-in link signs in; the workflow
// shows its open gate, its live cost and its events; a POST without the CSRF token is refused;
// Approve decides, the approval arrives in the events and the next stage is seen starting on the
// same page; the first stage's diff shows its added lines. Prints one JSON line with what
// it saw; exits non-zero on the first thing that does not hold.
//
//   node dashboard.cjs LOGIN_URL WORKFLOW_ID STAGE [SCREENSHOT_DIR]
// PLAYWRIGHT_CORE: the playwright-core package directory; CHROMIUM_BIN: the browser.
"use strict";

const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");
const path = require("path");

const [loginUrl, workflowId, stage, screenshots] = process.argv.slice(2);
const origin = new URL(loginUrl).origin;
const workflowPath = "/workflows/" + encodeURIComponent(workflowId);

function check(condition, what) {
  if (!condition) throw new Error("does not hold: " + what);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      // playwright gives the browser a fresh profile of its own.
      "--disable-component-update", "--disable-sync",
    ],
  });
  const seen = {};
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();

    const anonymous = await page.goto(origin + workflowPath);
    check(anonymous.status() === 401, "a page without a session answers 401, got " + anonymous.status());
    check((await page.content()).includes("claude-temporal ui"), "the sign-in page says how to sign in");

    await page.goto(loginUrl);
    await Promise.all([page.waitForURL(origin + "/"), page.click("button[type=submit]")]);
    const row = page.locator(`a[href="${workflowPath}"]`);
    check((await row.count()) === 1, "the list shows the workflow");
    if (screenshots) await page.screenshot({ path: path.join(screenshots, "dashboard-workflows.png"), fullPage: true });

    await Promise.all([page.waitForURL(origin + workflowPath), row.click()]);
    await page.waitForSelector(".gate");
    check((await page.textContent(".gate")).includes(stage), "the gate of " + stage + " is shown");
    seen.cost = (await page.textContent("[data-live=total_cost]")).trim();
    check(/^\$\d+\.\d{4}$/.test(seen.cost) && Number(seen.cost.slice(1)) > 0, "the cost is shown: " + seen.cost);
    const stages = await page.$$eval("tr[data-stage]", (rows) => rows.map((r) => r.getAttribute("data-stage")));
    const next = stages[stages.indexOf(stage) + 1];
    check(next, "a stage follows " + stage);
    // The events list follows the stream: the request for approval is in it.
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll("ol.events li")).some((li) => li.textContent.includes("awaits approval")),
      null,
      { timeout: 30000 },
    );
    if (screenshots) await page.screenshot({ path: path.join(screenshots, "dashboard-gate.png"), fullPage: true });

    // The session's cookie without the form's CSRF token decides nothing.
    const forged = await page.request.post(origin + workflowPath + "/decide", {
      form: { verdict: "approve", stage: stage, run_id: await page.inputValue("input[name=run_id]") },
      maxRedirects: 0,
    });
    check(forged.status() === 403, "a POST without the CSRF token is refused, got " + forged.status());
    check((await page.locator(".gate").count()) === 1, "the gate is still open");

    await page.fill("textarea[name=comment]", "approved from the browser");
    await Promise.all([page.waitForURL(origin + workflowPath), page.click("button[value=approve]")]);
    const nextState = `tr[data-stage="${next}"] [data-live=state]`;
    await page.waitForFunction(
      (selector) => { const el = document.querySelector(selector); return el && el.textContent.trim() !== "pending"; },
      nextState,
      { timeout: 120000 },
    );
    // And the approval is in it.
    await page.waitForFunction(
      (approved) => Array.from(document.querySelectorAll("ol.events li")).some((li) => li.textContent.includes(approved)),
      "approved " + stage + " by",
      { timeout: 30000 },
    );
    seen.events = await page.$$eval("ol.events li", (items) => items.length);
    // The finished first stage's diff, from the project's repository.
    const diffLink = page.locator(`tr[data-stage="${stages[0]}"] a[href$="/diff"]`);
    check((await diffLink.count()) === 1, "the first stage links to its diff");
    const diffPage = await context.newPage();
    await diffPage.goto(origin + (await diffLink.getAttribute("href")));
    seen.diff_added_lines = await diffPage.locator("pre.diff .add").count();
    check(seen.diff_added_lines > 0, "the diff shows added lines");
    if (screenshots) await diffPage.screenshot({ path: path.join(screenshots, "dashboard-diff.png"), fullPage: true });
    seen.next_stage = next;
    seen.next_state = (await page.textContent(nextState)).trim();
    seen.approved_by = (await page.textContent(`tr[data-stage="${stage}"] td:nth-child(8)`)).trim();
    check(seen.approved_by.endsWith("(dashboard)"), "the stage says who approved it: " + seen.approved_by);
    if (screenshots) await page.screenshot({ path: path.join(screenshots, "dashboard-running.png"), fullPage: true });
    console.log(JSON.stringify(seen));
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
