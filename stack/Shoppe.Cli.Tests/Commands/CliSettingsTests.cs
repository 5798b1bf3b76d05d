using Shoppe.Cli.Commands;
using Shoppe.Security;

namespace Shoppe.Cli.Tests.Commands;

/// <summary>Where the CLI looks when options do not say: option, then variable, then facility file, then default.</summary>
public sealed class CliSettingsTests : IDisposable
{
    private readonly CliRun _run = new();

    public void Dispose() => _run.Dispose();

    [Theory]
    [InlineData(true, true, true, "option")]
    [InlineData(false, true, true, "variable")]
    [InlineData(false, false, true, "facility")]
    [InlineData(false, false, false, "default")]
    public void SigningKey_IsTheFirstThatIsGiven_OptionVariableFacilityFileDefault(bool option, bool variable, bool facility, string expected)
    {
        var keys = new Dictionary<string, string>
        {
            ["option"] = _run.Key("option.key"),
            ["variable"] = _run.Key("variable.key"),
            ["default"] = _run.Key(Path.Combine("home", "keys", "signing.key")),
        };
        if (facility)
        {
            keys["facility"] = _run.Facility(_run.DefaultFacilityFile, "facility").SigningKeyFile;
        }

        if (variable)
        {
            _run.Variables[CliSettings.KeyFileVariable] = keys["variable"];
        }

        Assert.True(_run.Settings.TryResolveSigningKey(option ? keys["option"] : null, out var path, out var error), error);
        Assert.Equal(keys[expected], path);
    }

    [Fact]
    public void FacilityFile_MovedByTheVariable_IsTheOneRead()
    {
        var moved = Path.Combine(_run.Folder, "second", "facility.json");
        var second = _run.Facility(moved, "second-root");
        _run.Facility(_run.DefaultFacilityFile, "first-root");
        _run.Variables[LocalFacility.FileVariable] = moved;

        Assert.Equal(moved, _run.Settings.FacilityFile);
        Assert.True(_run.Settings.TryResolveSigningKey(null, out var path, out var error), error);
        Assert.Equal(second.SigningKeyFile, path);
    }

    [Fact]
    public void ServiceUrl_IsTheFirstThatIsGiven_OptionVariableFacilityFileDefault()
    {
        const string Fallback = "http://127.0.0.1:5106";
        Assert.Equal(new Uri(Fallback), _run.Settings.ResolveUrl(null, "SHOPPE_LOGS_URL", "logs", Fallback));

        _run.Facility(_run.DefaultFacilityFile, "facility");
        Assert.Equal(new Uri("http://127.0.0.1:7106"), _run.Settings.ResolveUrl(null, "SHOPPE_LOGS_URL", "logs", Fallback));
        Assert.Equal(new Uri(Fallback), _run.Settings.ResolveUrl(null, "SHOPPE_PORTAL_URL", "portal", Fallback)); // not in the file

        _run.Variables["SHOPPE_LOGS_URL"] = "http://variable:1";
        Assert.Equal(new Uri("http://variable:1"), _run.Settings.ResolveUrl(null, "SHOPPE_LOGS_URL", "logs", Fallback));

        Assert.Equal(new Uri("http://option:2"), _run.Settings.ResolveUrl("http://option:2", "SHOPPE_LOGS_URL", "logs", Fallback));
    }

    [Fact]
    public void FacilityFile_WrittenAndReadBack_IsTheSame_AndOnlyItsOwnerReadsIt()
    {
        var written = _run.Facility(_run.DefaultFacilityFile, "facility");

        var read = LocalFacility.Read(_run.DefaultFacilityFile);

        Assert.NotNull(read);
        Assert.Equal((written.DataRoot, written.SigningKeyFile, written.StartedAt), (read.DataRoot, read.SigningKeyFile, read.StartedAt));
        Assert.Equal(written.Services, read.Services);
        Assert.Null(LocalFacility.Read(Path.Combine(_run.Folder, "none", "facility.json")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_run.DefaultFacilityFile));
        }
    }
}
