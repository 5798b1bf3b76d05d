using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Shoppe.Security;

namespace Shoppe.Transfer.Tests;

/// <summary>The real transfer service on a loopback port (remotes must reach it), with its own storage root.</summary>
public sealed class TransferServiceFactory(string dataRoot, string keyFile, IDictionary<string, string?>? settings = null, int port = 0)
    : ShoppeServiceFactory<Program>(dataRoot, new Dictionary<string, string?> { ["Transfer:MarkerInterval"] = "00:00:00.200" }, settings, keyFile, port)
{
    public string Storage => Path.Combine(DataRoot, "storage");

    public string Token(string user, string? scope, params string[] roles) => Token(user, roles, scope);

    public HttpClient ClientWith(string? scope, params string[] roles) => ClientWithToken(Token("alice", scope, roles));

    /// <summary>The service's own URL (Kestrel on a free loopback port).</summary>
    public Uri Url => CreateClient().BaseAddress!;
}
