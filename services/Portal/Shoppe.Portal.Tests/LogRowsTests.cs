using System.Text.Json;
using Shoppe.Portal.Requests;

namespace Shoppe.Portal.Tests;

public sealed class LogRowsTests
{
    [Fact]
    public void Write_EncodesEveryField_KeepsTheTimeOfDay_AndGivesTheLastCursor()
    {
        using var page = JsonDocument.Parse("""
            [{"time":"2026-12-04T20:39:29.9341612+00:00","level":"info","service":"delivery","message":"<b>bold</b> & \"quoted\" → ok","cursor":"c1"},
             {"time":"2026-12-04T20:39:30.0000000+00:00","level":"x\" onclick=\"alert(1)","service":"cache","message":"second","cursor":"c2"}]
            """);

        var (html, count, last) = LogRows.Write(page.RootElement);

        Assert.Equal(2, count);
        Assert.Equal("c2", last);
        Assert.Contains("<time datetime=\"2026-12-04T20:39:29.9341612&#x2B;00:00\">20:39:29.934</time>", html, StringComparison.Ordinal);
        // The first line carries the Element Timing mark the first-paint benchmark reads; the others do not.
        Assert.Contains("<td class=\"message\" elementtiming=\"first-line\">&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; → ok</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td class=\"message\">second</td>", html, StringComparison.Ordinal);
        Assert.Contains("<tr class=\"x&quot; onclick=&quot;alert(1)\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
    }
}
