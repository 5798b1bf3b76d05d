using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Shoppe.Security;

namespace Shoppe.Portal.SignIn;

/// <summary>One local account: its name, whether it is an operator, and its password as a PBKDF2 hash.</summary>
/// <param name="Name">The user name, as the facility's tokens carry it.</param>
/// <param name="Operator">Whether the account sees everyone's requests.</param>
/// <param name="Salt">The hash's salt (base64).</param>
/// <param name="Hash">PBKDF2-HMAC-SHA256 of the password (base64).</param>
/// <param name="Iterations">PBKDF2's iterations.</param>
public sealed record LocalAccount(string Name, bool Operator, string Salt, string Hash, int Iterations);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(List<LocalAccount>))]
internal sealed partial class LocalAccountsJsonContext : JsonSerializerContext;

/// <summary>
/// The accounts of a facility without an identity provider (one machine): a JSON file readable by its owner only,
/// holding salted PBKDF2-HMAC-SHA256 hashes (OWASP's 600,000 iterations), never passwords. Checking a name that does
/// not exist costs the same as checking a wrong password, so the time does not say which names exist.
/// </summary>
public sealed class LocalAccounts(string path)
{
    /// <summary>PBKDF2 iterations for new hashes.</summary>
    public const int Iterations = 600_000;

    private static readonly LocalAccount Nobody = Hashed("nobody", RandomNumberGenerator.GetHexString(32), false);
    private readonly Lock _writing = new();

    /// <summary>The accounts file.</summary>
    public string Path { get; } = path;

    /// <summary>The account if the password is its own; otherwise null.</summary>
    public LocalAccount? Verify(string? name, string? password)
    {
        var account = name is null ? null : Read().FirstOrDefault(a => a.Name == name);
        var candidate = account ?? Nobody;
        var expected = Convert.FromBase64String(candidate.Hash);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password ?? ""), Convert.FromBase64String(candidate.Salt), candidate.Iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(expected, actual) && account is not null ? account : null;
    }

    /// <summary>Every account, as the file holds them now.</summary>
    public IReadOnlyList<LocalAccount> Read()
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        using var stream = File.OpenRead(Path);
        return JsonSerializer.Deserialize(stream, LocalAccountsJsonContext.Default.ListLocalAccount) ?? [];
    }

    /// <summary>Adds an account or gives an existing one a new password; returns the password (a new random one when none is given).</summary>
    /// <exception cref="ArgumentException">The name is not a valid user name.</exception>
    public string Set(string name, bool isOperator, string? password = null)
    {
        if (!ShoppeClaims.IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid user name (a letter or digit, then up to 63 of letters, digits, '.', '_', '-').", nameof(name));
        }

        password ??= NewPassword();
        lock (_writing)
        {
            var accounts = Read().Where(a => a.Name != name).ToList();
            accounts.Add(Hashed(name, password, isOperator));
            accounts.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            PrivateFile.WriteAtomically(Path, JsonSerializer.Serialize(accounts, LocalAccountsJsonContext.Default.ListLocalAccount), overwrite: true);
        }

        return password;
    }

    /// <summary>A password of 20 characters from an alphabet without look-alikes (about 100 bits).</summary>
    public static string NewPassword() => RandomNumberGenerator.GetString("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", 20);

    private static LocalAccount Hashed(string name, string password, bool isOperator)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        return new LocalAccount(name, isOperator, Convert.ToBase64String(salt), Convert.ToBase64String(hash), Iterations);
    }
}
