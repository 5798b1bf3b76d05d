using Microsoft.Extensions.Options;
using Shoppe.ServiceDefaults;
using Shoppe.Portal.Health;
using Shoppe.Portal.Help;
using Shoppe.Portal.Release;
using Shoppe.Portal.Requests;
using Shoppe.Portal.SignIn;

namespace Shoppe.Portal.Extensions;

internal static partial class PortalServiceExtensions
{
    public static WebApplicationBuilder AddPortalServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PortalOptions>()
            .BindConfiguration(PortalOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ProbeMemo>();
        builder.Services.AddHttpClient<ServiceDirectory>();
        builder.Services.AddHttpClient<FacilityClient>(http => http.Timeout = Timeout.InfiniteTimeSpan);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, PortalJsonContext.Default));
        builder.Services.AddSingleton(new Tutorials.TutorialLibrary(Path.Combine(AppContext.BaseDirectory, "tutorials")));
        builder.Services.AddOptions<HelpOptions>()
            .BindConfiguration(HelpOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(services => new ProblemReports(
            Path.Combine(services.GetRequiredService<IOptions<ShoppeHostOptions>>().Value.DataRoot, "reports.db")));
        builder.Services.AddSingleton<GitHubIssues>();
        builder.Services.AddScoped<ProblemReporter>();
        builder.Services.AddOptions<ReleaseOptions>().BindConfiguration(ReleaseOptions.SectionName);
        builder.Services.AddSingleton<RunningRelease>();
        builder.Services.AddRazorComponents();
        builder.Services.AddCascadingAuthenticationState();
        return builder;
    }

    /// <summary>On one machine, the first account (the AppHost names the machine's user), made once; the log says where its password is.</summary>
    public static WebApplication EnsureFirstAccount(this WebApplication app)
    {
        var file = PortalSignInService.EnsureFirstAccount(app.Services.GetRequiredService<LocalAccounts>(), app.Services.GetRequiredService<IOptions<PortalSignInOptions>>().Value);
        if (file is not null)
        {
            LogFirstAccount(app.Logger, app.Services.GetRequiredService<IOptions<PortalSignInOptions>>().Value.FirstAccount!, file);
        }

        return app;
    }

    [LoggerMessage(1, LogLevel.Warning, "Made the portal account {User} (an operator); its password is in {File}")]
    private static partial void LogFirstAccount(ILogger logger, string user, string file);
}
