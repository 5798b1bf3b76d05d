"""Tests of shoppe_logs against a running logs service.

Run by the .NET test suite (services/Logs/Shoppe.Logs.Tests/Clients/PythonHelperTests.cs), which starts
the real logs service on loopback, stores a request's records and sets:
SHOPPE_LOGS_URL, SHOPPE_TOKEN (the owner's), SHOPPE_OTHER_TOKEN (another user's), SHOPPE_TEST_REQUEST.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoppe_logs  # noqa: E402

REQUEST = os.environ.get("SHOPPE_TEST_REQUEST", "")


@unittest.skipUnless(REQUEST, "needs a running logs service (run through the .NET test suite)")
class ShoppeLogsTests(unittest.TestCase):
    def test_fetch_returns_every_record_in_order(self):
        logs = shoppe_logs.fetch(REQUEST)
        self.assertEqual(
            [r.message for r in logs],
            ["transform accepted", "file 1 of 1 unreadable", "transform failed"],
        )

    def test_level_filter(self):
        logs = shoppe_logs.fetch(REQUEST, level="error")
        self.assertEqual([r.level for r in logs], ["error", "error"])

    def test_text_is_readable_lines(self):
        text = str(shoppe_logs.fetch(REQUEST))
        self.assertIn("12:00:00.010 ERROR delivery   file 1 of 1 unreadable", text.splitlines())

    def test_html_table_escapes_messages(self):
        html = shoppe_logs.fetch(REQUEST)._repr_html_()
        self.assertIn("<table>", html)
        self.assertIn("&lt;b&gt;bold&lt;/b&gt;", shoppe_logs.RequestLogs("x", [
            shoppe_logs.LogRecord("2026-11-25T12:00:00.000Z", "info", "portal", "<b>bold</b>")])._repr_html_())

    def test_show_prints_plain_text_outside_jupyter(self):
        import io
        from contextlib import redirect_stdout

        out = io.StringIO()
        with redirect_stdout(out):
            shoppe_logs.show(REQUEST)
        self.assertIn("transform failed", out.getvalue())

    def test_follow_yields_lines_until_the_request_finishes(self):
        lines = list(shoppe_logs.follow(REQUEST, timeout=20))
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[-1].endswith("transform failed"))

    def test_summary(self):
        s = shoppe_logs.summary(REQUEST)
        self.assertEqual(s["total"], 3)
        self.assertEqual(s["byLevel"]["error"], 2)

    def test_another_users_request_is_refused(self):
        with self.assertRaises(shoppe_logs.ShoppeLogsError) as caught:
            shoppe_logs.fetch(REQUEST, token=os.environ["SHOPPE_OTHER_TOKEN"])
        self.assertEqual(caught.exception.status, 403)

    def test_unknown_request_is_404(self):
        with self.assertRaises(shoppe_logs.ShoppeLogsError) as caught:
            shoppe_logs.fetch("no-such-request")
        self.assertEqual(caught.exception.status, 404)


if __name__ == "__main__":
    unittest.main()
