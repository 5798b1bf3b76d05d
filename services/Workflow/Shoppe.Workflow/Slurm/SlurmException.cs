using System.Net;

namespace Shoppe.Workflow.Slurm;

/// <summary>slurmrestd refused or failed an operation: its <c>errors</c>, or its HTTP status when it sent none.</summary>
public sealed class SlurmException : Exception
{
    /// <summary>A failure with no Slurm error number.</summary>
    public SlurmException(string message)
        : this(message, null, -1, null)
    {
    }

    /// <summary>A failure with no Slurm error number, caused by <paramref name="inner"/>.</summary>
    public SlurmException(string message, Exception inner)
        : base(message, inner)
    {
        ErrorNumber = -1;
    }

    /// <summary>A failure slurmrestd reported.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="statusCode">slurmrestd's HTTP status, when it answered.</param>
    /// <param name="errorNumber">Slurm's error number (slurm_errno.h, e.g. 2014 for a node configuration no node has), or -1.</param>
    /// <param name="slurmCall">The Slurm call that failed, as slurmrestd names it (e.g. <c>slurm_load_jobs</c>).</param>
    public SlurmException(string message, HttpStatusCode? statusCode, int errorNumber, string? slurmCall)
        : base(message)
    {
        StatusCode = statusCode;
        ErrorNumber = errorNumber;
        SlurmCall = slurmCall;
    }

    /// <summary>A failure with no Slurm error number.</summary>
    public SlurmException()
        : this("slurmrestd failed.")
    {
    }

    /// <summary>slurmrestd's HTTP status, when it answered: 401 without a user name and token, 500 for every Slurm error.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>Slurm's error number of the first error (e.g. 2017: no such job; 2014: no node has what the job asks for), or -1.</summary>
    public int ErrorNumber { get; }

    /// <summary>The Slurm call that failed, as slurmrestd names it (its error's <c>source</c>), when it says.</summary>
    public string? SlurmCall { get; }

    internal static SlurmException From(HttpStatusCode status, string operation, List<SlurmErrorWire> errors)
    {
        var messages = errors.Select(e =>
        {
            var text = e.Error ?? "error";
            if (!string.IsNullOrEmpty(e.Description) && e.Description != e.Error)
            {
                text += $" ({e.Description})";
            }

            return text;
        });
        var first = errors[0];
        var number = first.ErrorNumber ?? first.ErrorCode ?? -1;
        var message = $"slurmrestd {operation}: {string.Join("; ", messages)}";
        if (number == -1 && status == HttpStatusCode.InternalServerError)
        {
            // slurmrestd hands the token to slurmctld unread; slurmctld's refusal comes back as this, with no word of
            // authentication (only a missing token is a 401).
            message += ". slurmctld refused the request without a reason: a token it cannot verify (wrong, expired, or for another user) is answered so.";
        }

        return new SlurmException(message, status, number, first.Source);
    }
}
