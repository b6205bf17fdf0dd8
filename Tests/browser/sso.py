"""Sign-in through the company's identity provider in a real headless Chromium (selenium): Ferry's sign-in page,
the provider's own form, back to the page asked for, signed in as the person; then sign out. Run by
SignInTests.aPersonSignsInThroughTheProviderInARealBrowser against a server and a provider it starts; exits
non-zero with the reason on the first thing that is wrong."""
import argparse
import sys

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--name", required=True, help="the person's name Ferry should show once signed in")
parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
args = parser.parse_args()


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    print("at " + driver.current_url, file=sys.stderr)
    sys.exit(1)


options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
    options.add_argument(flag)
# The test's provider serves https with a certificate it made itself.
options.accept_insecure_certs = True
driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
wait = WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,))
try:
    driver.get(args.url + "/spend")
    wait.until(EC.url_contains("/login"))
    button = wait.until(EC.element_to_be_clickable((By.ID, "sso-default")))
    button.click()
    # The provider's own page.
    wait.until(EC.presence_of_element_located((By.ID, "username"))).send_keys(args.user)
    driver.find_element(By.ID, "password").send_keys(args.password)
    driver.find_element(By.ID, "signin").click()
    # Back at Ferry, on the page first asked for, signed in as the person.
    wait.until(EC.url_contains("/spend"))
    who = wait.until(EC.presence_of_element_located((By.ID, "who"))).text
    if who != args.name:
        fail(f"signed in as {who!r}, not {args.name!r}")
    print(f"ok: signed in through the provider as {who}", flush=True)
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait.until(EC.url_contains("/login"))
    driver.get(args.url + "/tasks")
    wait.until(EC.url_contains("/login"))
    print("ok: signed out", flush=True)
finally:
    driver.quit()
