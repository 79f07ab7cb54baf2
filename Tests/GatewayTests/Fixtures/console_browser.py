"""Drives the admin console in a real browser (Debian's headless Chromium through its
chromedriver) against a live gateway, as an operator would: sign in, see a plugin, preview a
dataset, run a dataflow and watch it complete, read its logs filtered by level, download an
export, create and revoke a token; then sign in again with a narrow token and see only what
its scopes open. Saves a screenshot of each view. Prints one JSON object with what it saw;
ConsoleTests checks it. Exits non-zero (with the reason) when a step fails.

usage: console_browser.py BASE ADMIN_TOKEN NARROW_TOKEN PLUGIN DATASET FLOW_ID EXPORT_KEY SHOTS DOWNLOADS
"""
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

base, admin, narrow, plugin, dataset, flow, export_key, shots, downloads = sys.argv[1:10]

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"]:
    options.add_argument(flag)
options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
# A net against a page that never shows what it should, not a time limit: a loaded
# 2-core machine running the whole suite beside the browser can be slow.
wait = WebDriverWait(driver, 180, poll_frequency=0.1)
seen = {}


def css(selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def shoot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


def tab(name):
    css(f'nav a[href="#{name}"]')[0].click()


def rows(testid):
    # Read in the page in one step: the console redraws tables while it polls, and an
    # element found in one call may be gone by the next.
    texts = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(r => r.innerText.replace(/\\s+/g, ' ').trim())",
        f'table[data-testid="{testid}"] tbody tr')
    return [t for t in texts if t != "nothing yet"]


def sign_in(token):
    driver.get(base + "/console")
    wait.until(lambda d: d.find_element(By.ID, "token").is_displayed())
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(lambda d: not d.find_element(By.ID, "tabs").get_attribute("hidden"))


try:
    sign_in(admin)
    # Health and plugins: the fixture plugin is listed, active.
    wait.until(lambda d: any(plugin in r for r in rows("plugins")))
    seen["plugins"] = rows("plugins")
    seen["health"] = css('[data-testid="health"]')[0].text
    shoot("1-plugins")

    tab("datasets")
    wait.until(lambda d: any(r.startswith(dataset + " ") for r in rows("datasets")))
    seen["datasets"] = rows("datasets")
    row = [r for r in css('table[data-testid="datasets"] tbody tr') if r.text.startswith(dataset + " ")][0]
    row.find_element(By.TAG_NAME, "button").click()
    wait.until(lambda d: len(rows("preview")) > 0)
    seen["preview"] = rows("preview")
    shoot("2-datasets")

    tab("dataflows")
    wait.until(lambda d: css(f'tr[data-flow="{flow}"]'))
    seen["flows"] = rows("dataflows")
    css(f'tr[data-flow="{flow}"] a')[0].click()
    wait.until(lambda d: "never run" in d.find_element(By.CSS_SELECTOR, '[data-testid="run-state"]').text)
    driver.find_element(By.XPATH, '//button[text()="Execute"]').click()
    # Live progress: the state card follows the run until it ends.
    wait.until(lambda d: "completed" in d.find_element(By.CSS_SELECTOR, '[data-testid="run-state"]').text
               or "failed" in d.find_element(By.CSS_SELECTOR, '[data-testid="run-state"]').text)
    seen["run_state"] = css('[data-testid="run-state"]')[0].text
    wait.until(lambda d: len(rows("logs")) > 0 and len(rows("runs")) > 0)
    seen["runs"] = rows("runs")
    seen["logs"] = rows("logs")
    Select(css('[data-testid="log-level"]')[0]).select_by_value("INFO")
    wait.until(lambda d: rows("logs") and all(" INFO " in r for r in rows("logs")))
    seen["info_logs"] = rows("logs")
    shoot("3-dataflow")

    tab("exports")
    wait.until(lambda d: css(f'tr[data-key="{export_key}"]'))
    seen["exports"] = rows("exports")
    shoot("4-exports")
    css(f'tr[data-key="{export_key}"] button')[0].click()
    deadline = time.time() + 30
    while time.time() < deadline:
        done = [f for f in os.listdir(downloads) if f.endswith(".zip")]
        if done:
            break
        time.sleep(0.1)
    seen["downloads"] = sorted(os.listdir(downloads))

    tab("tokens")
    wait.until(lambda d: len(rows("tokens")) > 0)
    driver.find_element(By.NAME, "token-name").send_keys("console-made")
    driver.find_element(By.NAME, "token-scopes").send_keys("query:dataset/" + dataset)
    driver.find_element(By.XPATH, '//button[text()="Create token"]').click()
    wait.until(lambda d: css('[data-testid="new-secret"]'))
    seen["secret"] = css('[data-testid="new-secret"] .mono')[0].text
    wait.until(lambda d: any("console-made" in r for r in rows("tokens")))
    shoot("5-tokens")
    driver.find_element(By.XPATH, '//tr[td[text()="console-made"]]//button[text()="Revoke"]').click()
    driver.switch_to.alert.accept()
    wait.until(lambda d: any("console-made" in r and r.count("Z") >= 2 for r in rows("tokens")))
    seen["tokens"] = rows("tokens")

    seen["console_errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]

    # A narrow token sees only the views its scopes open.
    driver.find_element(By.ID, "signout").click()
    sign_in(narrow)
    wait.until(lambda d: css('[data-testid="health"]'))
    seen["narrow_tabs"] = [a.text for a in css("nav a")]
    seen["narrow_who"] = driver.find_element(By.ID, "who").text
    shoot("6-narrow")
    seen["console_errors"] += [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
except Exception as error:  # the test shows what went wrong and where
    shoot("failure")
    print(json.dumps({"error": repr(error), "seen": seen, "page": driver.find_element(By.TAG_NAME, "body").text[:3000]}))
    driver.quit()
    sys.exit(1)

driver.quit()
print(json.dumps(seen))
