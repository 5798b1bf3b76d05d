using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Shoppe.Security.Remotes;

/// <summary>Registers a service's <see cref="RemotePolicy"/>, its rules bound from its own configuration section.</summary>
public static class RemotePolicyExtensions
{
    /// <summary>
    /// Binds <c>&lt;section&gt;:AllowedRemotes</c> (<c>Transfer:AllowedRemotes</c>, <c>Delivery:AllowedRemotes</c>),
    /// refuses to start when an entry is neither a host name nor an address range, and registers the
    /// <see cref="RemotePolicy"/> built from it (one per service).
    /// </summary>
    /// <param name="services">The service's services.</param>
    /// <param name="section">The service's configuration section (<c>Transfer</c>).</param>
    /// <param name="defaults">Which addresses stay refused unless a range names them.</param>
    public static IServiceCollection AddRemotePolicy(this IServiceCollection services, string section, RemoteDefaults defaults)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(section);
        var setting = section + ":AllowedRemotes";
        services.AddSingleton<IValidateOptions<RemotePolicyOptions>>(new RulesValidator(setting));
        services.AddOptions<RemotePolicyOptions>().BindConfiguration(section).ValidateOnStart();
        services.AddSingleton(sp => new RemotePolicy(sp.GetRequiredService<IOptions<RemotePolicyOptions>>().Value.AllowedRemotes, defaults, setting, out _));
        return services;
    }

    /// <summary>Names every entry that cannot be read, so a mistyped rule stops the start rather than allowing less or more.</summary>
    private sealed class RulesValidator(string setting) : IValidateOptions<RemotePolicyOptions>
    {
        public ValidateOptionsResult Validate(string? name, RemotePolicyOptions options)
        {
            _ = new RemotePolicy(options.AllowedRemotes, RemoteDefaults.PublicOnly, setting, out var errors);
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Select(e => $"{setting}: {e}."));
        }
    }
}
