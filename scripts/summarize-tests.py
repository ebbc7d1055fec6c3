#!/usr/bin/env python3
"""Prints one 'N passed, N failed, N skipped' line over meson test logs."""
import json
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    try:
        with open(f"{build}/meson-logs/testlog.json") as log:
            for line in log:
                result = json.loads(line).get("result")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        failed += 1
        print(f"no test log in {build}", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
