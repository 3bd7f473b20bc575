"""Remake docs/_static/ui-version.png, the README's screenshot of `artstore ui`.

    .venv/bin/python scripts/ui_screenshot.py     # needs the ui extra, selenium and Debian's chromium

Builds a store shaped like `make demo`'s (a dataset logged, changed and logged again by
named runs, a model trained from it), serves it with `artstore ui` and saves the version
page of mnist:1.0.0 as Chromium draws it."""

import os
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "docs", "_static", "ui-version.png")


def artstore(*args, cwd):
    subprocess.run([sys.executable, "-m", "artstore", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def build(root):
    data = os.path.join(root, "data")
    os.makedirs(os.path.join(data, "images"))
    for i in range(6):
        with open(os.path.join(data, "images", f"batch-{i}.bin"), "wb") as f:
            f.write(os.urandom(200_000))
    with open(os.path.join(data, "labels.csv"), "w") as f:
        f.writelines(f"{i},{i * 7 % 10}\n" for i in range(2000))
    artstore("init", "--workspace", "demo", cwd=root)
    artstore("add", "mnist", "data", "--version", "1.0.0", "--alias", "baseline", "--tag", "raw",
             "--meta", "source=demo", "--run", "prepare", cwd=root)
    with open(os.path.join(data, "labels.csv"), "a") as f:
        f.write("2000,3\n")
    artstore("add", "mnist", "data", "--version", "2.0.0", "--meta", "source=demo", "--run", "clean", cwd=root)
    artstore("use", "mnist:1.0.0", "--run", "train", cwd=root)
    with open(os.path.join(root, "model.pt"), "wb") as f:
        f.write(os.urandom(50_000))
    artstore("add", "resnet", "model.pt", "--type", "model", "--meta", "accuracy=0.93", "--run", "train", cwd=root)


def main():
    with tempfile.TemporaryDirectory(dir="/work" if os.path.isdir("/work") else None) as root:
        build(root)
        server = subprocess.Popen([sys.executable, "-m", "artstore", "ui", "--port", "0"], cwd=root,
                                  stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().split(" at ", 1)[1].split()[0]
            options = Options()
            options.binary_location = "/usr/bin/chromium"
            for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1000",
                        f"--user-data-dir={os.path.join(root, 'profile')}"):
                options.add_argument(arg)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                driver.get(url + "a/demo/mnist/1.0.0")
                driver.save_screenshot(OUT)
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait()
    print(f"saved {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
