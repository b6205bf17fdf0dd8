"""The dashboard in a real headless Chromium (selenium): sign in, create a task a scripted model resolves and watch
its trace arrive live, open its diff, cancel another task, see the spend page move. With --screenshots DIR it also
saves a picture of every page. Run by DashboardBrowserTests (Swift) against a server it starts; exits non-zero with
the reason on the first thing that is wrong."""
import argparse
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--project", required=True, help="the project's name")
parser.add_argument("--screenshots")
parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
parser.add_argument("--shots-only", action="store_true", help="sign in and photograph every page of a server with data")
args = parser.parse_args()


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
# The task page reloads itself when its task ends, so an element may go stale between finding and reading it; Chromium
# sometimes reports that as a bare inspector error ("Node with given id does not belong to the document"), so waits
# ignore any driver error while they poll and time out with the question they asked.
FLAKY = (WebDriverException,)
wait = WebDriverWait(driver, 30, ignored_exceptions=FLAKY)


def status(d):
    """The task page's status, read in one script so a reload between finding and reading can't break it; None while
    the page is away (Chromium reports a node of the old document as an inspector error, not a stale element)."""
    try:
        return d.execute_script("var e = document.getElementById('status'); return e ? e.textContent.trim() : null")
    except WebDriverException:
        return None


def shot(name, width=1280, height=800):
    """The whole page (up to 4000 px) at this width, through the DevTools protocol."""
    if not args.screenshots:
        return
    driver.execute_script("window.scrollTo(0, 0)")
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    full = driver.execute_script("return Math.max(document.documentElement.scrollHeight, %d)" % height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", dict(metrics, height=min(int(full), 4000)))
    driver.save_screenshot(f"{args.screenshots}/{name}.png")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def create_task(text):
    driver.get(args.url + "/tasks")
    Select(driver.find_element(By.ID, "project")).select_by_visible_text(args.project)
    driver.find_element(By.ID, "task").send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "form[method=post][action='/tasks'] button[type=submit]").click()
    wait.until(EC.url_contains("/tasks/task_"))
    return driver.current_url


def shots_only():
    driver.get(args.url + "/login")
    shot("login")
    driver.find_element(By.ID, "key").send_keys(args.key)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait.until(EC.url_contains("/tasks"))
    shot("tasks")
    shot("tasks-phone", 390, 844)
    first = driver.find_element(By.CSS_SELECTOR, "table.tasks tbody a").get_attribute("href")
    driver.get(first)
    for summary in driver.find_elements(By.CSS_SELECTOR, "#trace li.model summary")[:1]:
        summary.click()
    shot("task")
    shot("task-phone", 390, 844)
    for page in ("spend", "evals", "admin"):
        driver.get(args.url + "/" + page)
        shot(page)
    print("ok: screenshots in " + args.screenshots)


try:
    if args.shots_only:
        shots_only()
        sys.exit(0)
    # Without a session every page sends the browser to the sign-in page.
    driver.get(args.url + "/spend")
    wait.until(EC.url_contains("/login"))
    shot("login")
    driver.find_element(By.ID, "key").send_keys("fy_not_a_key")
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    # The refusal is a new page: wait for it rather than read the old one (a loaded machine lost this race).
    if "not valid" not in wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".error"))).text:
        fail("a wrong key did not say so")
    driver.find_element(By.ID, "key").send_keys(args.key)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait.until(EC.url_contains("/spend"))
    cookie = driver.get_cookie("ferry_session")
    if not cookie or not cookie.get("httpOnly") or cookie.get("sameSite") != "Lax":
        fail(f"the session cookie is not HttpOnly and SameSite=Lax: {cookie}")
    if driver.execute_script("return document.cookie").find("ferry_session") >= 0:
        fail("the page's script can read the session cookie")
    spend_before = driver.find_element(By.CSS_SELECTOR, ".big").text.split(" ")[0]

    # A task the scripted model resolves slowly enough to watch: its trace grows on the open page.
    task_url = create_task("add() returns the wrong sum; fix it")
    try:
        WebDriverWait(driver, 30, ignored_exceptions=FLAKY).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trace li.fresh"))
    except TimeoutException:
        fail("no trace event arrived live on the task's page")
    live = len(driver.find_elements(By.CSS_SELECTOR, "#trace li.fresh"))
    shot("task-live")
    # At its end the page reloads with the result.
    try:
        WebDriverWait(driver, 60, ignored_exceptions=FLAKY).until(lambda d: status(d) in ("verified", "unverified", "failed"))
    except TimeoutException:
        fail("the task did not end on its page")
    if status(driver) != "verified":
        fail("the task ended " + str(status(driver)))
    added = driver.find_elements(By.CSS_SELECTOR, "table.diff tr.add td.code")
    if not any("return a + b" in cell.text for cell in added):
        fail("the diff does not show the fix")
    numbers = driver.find_elements(By.CSS_SELECTOR, "table.diff tr.add td.ln")
    if not any(n.text.strip().isdigit() for n in numbers):
        fail("the diff has no line numbers")
    if not driver.find_elements(By.CSS_SELECTOR, "table.diff .code .k"):
        fail("the diff is not coloured")
    evidence = driver.find_element(By.CSS_SELECTOR, "table.evidence").text
    if "Before the change" not in evidence or "After the change" not in evidence:
        fail("the verification evidence is missing: " + evidence)
    # A folded model call unfolds to its data.
    model = driver.find_element(By.CSS_SELECTOR, "#trace li.model summary")
    model.click()
    if "tokens" not in model.text:
        fail("a model call's summary has no tokens")
    shot("task")

    # Another task, cancelled while its model call hangs.
    other = create_task("this one hangs; cancel it")
    WebDriverWait(driver, 30, ignored_exceptions=FLAKY).until(lambda d: status(d) == "running" or d.refresh())
    driver.find_element(By.CSS_SELECTOR, "form[action$='/cancel'] button").click()
    try:
        WebDriverWait(driver, 60, ignored_exceptions=FLAKY).until(lambda d: status(d) == "cancelled" or d.refresh())
    except TimeoutException:
        fail("the cancelled task did not end cancelled")

    # The list shows both, and filters by status.
    driver.get(args.url + "/tasks?status=cancelled")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.tasks tbody tr")
    if len(rows) != 1 or "hangs" not in rows[0].text:
        fail("the status filter did not show just the cancelled task")
    driver.get(args.url + "/tasks")
    shot("tasks")
    shot("tasks-phone", 390, 844)

    # The spend page moved.
    driver.get(args.url + "/spend")
    spend_after = driver.find_element(By.CSS_SELECTOR, ".big").text.split(" ")[0]
    if spend_after == spend_before:
        fail(f"the spend page did not move ({spend_before} → {spend_after})")
    if not driver.find_elements(By.CSS_SELECTOR, "svg.chart rect"):
        fail("the spend page has no chart")
    shot("spend")

    driver.get(args.url + "/evals")
    shot("evals")
    driver.get(args.url + "/admin")
    if "Audit log" not in driver.page_source:
        fail("the admin page has no audit log")
    shot("admin")

    # Sign out: the session ends and pages go back to the sign-in page.
    driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    wait.until(EC.url_contains("/login"))
    driver.get(args.url + "/tasks")
    wait.until(EC.url_contains("/login"))
    print(f"ok: signed in, {live} trace event(s) arrived live, diff shown, a task cancelled, spend {spend_before} → {spend_after}, signed out")
finally:
    driver.quit()
