# Sourced by scripts/test: Debian's Chromium and its driver for the dry-run report test
# (tests/dryrun/test_report.py opens the HTML report headless). Installed when absent and
# apt-get can be used; otherwise that test skips locally and fails in CI.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium and chromium-driver (dry-run report test)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
            >/dev/null ||
            { apt-get update -q >/dev/null && \
              DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
                  >/dev/null; } ||
            echo "chromium: could not be installed; the report test will not run" >&2
    else
        echo "chromium: not installed (apt-get install chromium chromium-driver)" >&2
    fi
fi
