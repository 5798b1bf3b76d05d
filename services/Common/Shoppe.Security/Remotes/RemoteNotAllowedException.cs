namespace Shoppe.Security.Remotes;

/// <summary>
/// A connection <see cref="RemotePolicy"/> refused: no address of the remote is allowed. An
/// <see cref="HttpRequestException"/>, so callers that handle unreachable remotes handle it too; those that must
/// tell a refusal (which trying again will not change) from an outage find it with <see cref="FindIn"/>.
/// </summary>
public sealed class RemoteNotAllowedException : HttpRequestException
{
    public RemoteNotAllowedException()
    {
    }

    public RemoteNotAllowedException(string message)
        : base(message)
    {
    }

    public RemoteNotAllowedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The refusal behind <paramref name="exception"/> (HttpClient and readers wrap it), or null.</summary>
    public static RemoteNotAllowedException? FindIn(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is RemoteNotAllowedException refusal)
            {
                return refusal;
            }
        }

        return null;
    }
}
