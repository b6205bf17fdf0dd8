"""Photographs the accuracy watch on the dashboard in headless Chromium (selenium): the accuracy page, the newest
watch run's page and its first instance's trace. Used by bench/watch_demo.sh."""
import argparse
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
args = parser.parse_args()

options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)


def shot(name):
    driver.execute_script("window.scrollTo(0, 0)")
    metrics = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    full = driver.execute_script("return Math.max(document.documentElement.scrollHeight, 800)")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", dict(metrics, height=min(int(full), 3000)))
    driver.save_screenshot(f"{args.out}/{name}.png")


try:
    driver.get(args.url + "/login")
    driver.find_element(By.ID, "key").send_keys(args.key)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    WebDriverWait(driver, 30).until(EC.url_contains("/tasks"))
    driver.get(args.url + "/evals")
    shot("watch-accuracy")
    runs = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "table a[href^='/evals/'], table a[href*='/evals/']")]
    if not runs:
        sys.exit("FAIL: the accuracy page links no eval run")
    driver.get(runs[0])
    shot("watch-run")
    traces = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/runs/']")]
    if traces:
        driver.get(traces[0])
        for summary in driver.find_elements(By.CSS_SELECTOR, "ol.trace li.model summary")[:1]:
            summary.click()
        shot("watch-trace")
    print(f"ok: {len(runs)} run(s), {len(traces)} trace link(s) on the newest; screenshots in {args.out}")
finally:
    driver.quit()
