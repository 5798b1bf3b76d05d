using System.Security.Claims;
using Microsoft.IdentityModel.Tokens;

namespace Shoppe.Security.Tests;

public sealed class RememberingTokenHandlerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("shoppe-security-").FullName;
    private readonly ShoppeSecurityOptions _options;
    private readonly TokenValidationParameters _parameters;

    public RememberingTokenHandlerTests()
    {
        _options = new ShoppeSecurityOptions { SigningKeyFile = Path.Combine(_folder, "signing.key") };
        _parameters = new TokenValidationParameters
        {
            ValidIssuer = _options.Issuer,
            ValidAudience = _options.Audience,
            IssuerSigningKey = LocalSigningKey.LoadOrCreate(_options.SigningKeyFile),
            NameClaimType = ShoppeClaims.Subject,
            RoleClaimType = ShoppeClaims.Role,
        };
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Issue(string user, TimeSpan lifetime) => new TokenIssuer(_options, TimeProvider.System).Issue(user, [], lifetime);

    [Fact]
    public async Task ARememberedToken_IsNotValidatedAgain_AndEachCallerGetsItsOwnIdentity()
    {
        var handler = new RememberingTokenHandler(TimeProvider.System) { MapInboundClaims = false };
        var token = Issue("alice", TimeSpan.FromHours(1));

        var first = await handler.ValidateTokenAsync(token, _parameters);
        var second = await handler.ValidateTokenAsync(token, _parameters);

        Assert.True(first.IsValid && second.IsValid);
        Assert.Equal(1, handler.Validations);
        Assert.NotSame(first.ClaimsIdentity, second.ClaimsIdentity);
        Assert.Equal("alice", second.ClaimsIdentity.Name);
        first.ClaimsIdentity.AddClaim(new Claim(ShoppeClaims.Role, ShoppeClaims.OperatorRole));
        var third = await handler.ValidateTokenAsync(token, _parameters);
        Assert.False(third.ClaimsIdentity.HasClaim(ShoppeClaims.Role, ShoppeClaims.OperatorRole));
    }

    [Fact]
    public async Task AnAlteredToken_IsRefused_EvenAfterTheOriginalWasRemembered()
    {
        var handler = new RememberingTokenHandler(TimeProvider.System) { MapInboundClaims = false };
        var token = Issue("alice", TimeSpan.FromHours(1));
        Assert.True((await handler.ValidateTokenAsync(token, _parameters)).IsValid);

        var parts = token.Split('.');
        var forged = parts[0] + "." + parts[1] + "." + (parts[2][0] == 'A' ? 'B' : 'A') + parts[2][1..];

        Assert.False((await handler.ValidateTokenAsync(forged, _parameters)).IsValid);
        Assert.False((await handler.ValidateTokenAsync(token + "x", _parameters)).IsValid);
    }

    [Fact]
    public async Task ATokenIsTakenOnTrust_NoLongerThanAMinute_NorPastItsExpiry()
    {
        var clock = new ManualClock();
        var handler = new RememberingTokenHandler(clock) { MapInboundClaims = false };
        var longLived = Issue("alice", TimeSpan.FromHours(1));
        var shortLived = Issue("bob", TimeSpan.FromSeconds(20));
        await handler.ValidateTokenAsync(longLived, _parameters);
        await handler.ValidateTokenAsync(shortLived, _parameters);

        clock.Now += TimeSpan.FromSeconds(30);
        await handler.ValidateTokenAsync(longLived, _parameters);
        Assert.Equal(2, handler.Validations);
        await handler.ValidateTokenAsync(shortLived, _parameters); // past its expiry: validated afresh
        Assert.Equal(3, handler.Validations);

        clock.Now += RememberingTokenHandler.RememberFor;
        await handler.ValidateTokenAsync(longLived, _parameters);
        Assert.Equal(4, handler.Validations);
    }

    [Fact]
    public async Task WhatIsRemembered_AndUntilWhen_IsToldToWhoeverKeepsDecisionsOnIt()
    {
        var clock = new ManualClock();
        var handler = new RememberingTokenHandler(clock) { MapInboundClaims = false };
        var token = Issue("alice", TimeSpan.FromHours(1));
        Assert.False(handler.TryGetRemembered(token, out _));

        await handler.ValidateTokenAsync(token, _parameters);
        Assert.True(handler.TryGetRemembered(token, out var until));
        Assert.Equal(clock.Now + RememberingTokenHandler.RememberFor, until);
        Assert.False(handler.TryGetRemembered(token + "x", out _));

        // Asked again by a remembered validation, the answer does not move: the minute runs from the last real one.
        clock.Now += TimeSpan.FromSeconds(50);
        await handler.ValidateTokenAsync(token, _parameters);
        Assert.True(handler.TryGetRemembered(token, out var later));
        Assert.Equal(until, later);

        clock.Now += TimeSpan.FromSeconds(10);
        Assert.False(handler.TryGetRemembered(token, out _));
    }

    [Fact]
    public async Task AnInvalidToken_IsNeverRemembered()
    {
        var handler = new RememberingTokenHandler(TimeProvider.System) { MapInboundClaims = false };
        var wrongAudience = new TokenValidationParameters { ValidIssuer = _parameters.ValidIssuer, ValidAudience = "someone-else", IssuerSigningKey = _parameters.IssuerSigningKey };
        var token = Issue("alice", TimeSpan.FromHours(1));

        Assert.False((await handler.ValidateTokenAsync(token, wrongAudience)).IsValid);
        Assert.False((await handler.ValidateTokenAsync(token, wrongAudience)).IsValid);
        Assert.Equal(2, handler.Validations);
    }
}
