using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Shoppe.Security;

/// <summary>
/// The JWT handler with a short memory of the tokens it has validated. A reader sends the same bearer token
/// with every range request of a file, and validating it each time (parsing, the signature, the claims) cost
/// the cache a quarter of its small-read rate (docs/performance.md, "Cache"). A token is remembered only once
/// it has validated, never past its own expiry and at most <see cref="RememberFor"/>; every request gets its own
/// copy of the identity, so nothing one request does to it reaches another. One handler serves one scheme with
/// one set of validation rules: what it remembers is "valid under those rules".
/// </summary>
public sealed class RememberingTokenHandler(TimeProvider time) : JsonWebTokenHandler
{
    private readonly ConcurrentDictionary<string, (TokenValidationResult Result, DateTimeOffset Until)> _valid = new(StringComparer.Ordinal);
    private long _validations;

    /// <summary>The longest a validated token is taken on trust (a replaced signing key is noticed within this).</summary>
    public static readonly TimeSpan RememberFor = TimeSpan.FromMinutes(1);

    /// <summary>The most tokens remembered; past it the memory starts afresh.</summary>
    public const int MaxRemembered = 10_000;

    /// <summary>Full validations done (a remembered token costs none).</summary>
    public long Validations => Interlocked.Read(ref _validations);

    /// <summary>
    /// Whether <paramref name="token"/> is remembered as valid, and until when it is taken on trust without being
    /// validated again (for callers that keep decisions of their own on it: never keep one longer).
    /// </summary>
    public bool TryGetRemembered(string token, out DateTimeOffset until)
    {
        ArgumentNullException.ThrowIfNull(token);
        until = default;
        if (!_valid.TryGetValue(token, out var known) || time.GetUtcNow() >= known.Until)
        {
            return false;
        }

        until = known.Until;
        return true;
    }

    /// <inheritdoc />
    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = time.GetUtcNow();
        if (token is not null && _valid.TryGetValue(token, out var known))
        {
            if (now < known.Until)
            {
                return Copy(known.Result);
            }

            _valid.TryRemove(token, out _);
        }

        Interlocked.Increment(ref _validations);
        var result = await base.ValidateTokenAsync(token, validationParameters);
        if (token is null || !result.IsValid || result.SecurityToken is not JsonWebToken jwt || result.ClaimsIdentity is null)
        {
            return result;
        }

        var expires = new DateTimeOffset(DateTime.SpecifyKind(jwt.ValidTo, DateTimeKind.Utc));
        var until = expires < now + RememberFor ? expires : now + RememberFor;
        if (_valid.Count >= MaxRemembered)
        {
            _valid.Clear();
        }

        _valid[token] = (result, until);
        return Copy(result);
    }

    private static TokenValidationResult Copy(TokenValidationResult result) => new()
    {
        IsValid = true,
        ClaimsIdentity = result.ClaimsIdentity!.Clone(),
        SecurityToken = result.SecurityToken,
        Issuer = result.Issuer,
        TokenType = result.TokenType,
    };
}
