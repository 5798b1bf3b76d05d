using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Shoppe.Portal.Help;
using Shoppe.Portal.Requests;
using Shoppe.Portal.SignIn;
using Shoppe.Security;

namespace Shoppe.Portal.Apis;

/// <summary>The "report a problem" form of a request's page: a POST with the user's words, antiforgery checked.</summary>
internal static class HelpApi
{
    /// <summary>The largest form body taken (the words' own limit is smaller; this bounds what is read at all).</summary>
    private const long FormLimit = 128 * 1024;

    public static IEndpointRouteBuilder MapHelpApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/requests/{kind}/{id}/report", ReportAsync)
            .RequireAuthorization()
            .WithMetadata(new RequestSizeLimitAttribute(FormLimit))
            .DisableAntiforgery() // checked below, to answer a problem rather than a bare 400
            .WithName("ReportProblem")
            .WithSummary("Report a problem with one of your requests: kept for operators, and filed as an issue where the site has a repository");
        return routes;
    }

    private static async Task<IResult> ReportAsync(HttpContext context, string kind, string id, IAntiforgery antiforgery, ProblemReporter reporter, CancellationToken cancellationToken)
    {
        if (!RequestKinds.IsKnown(kind, id))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such request", detail: "That is not a request of this facility.");
        }

        IFormCollection form;
        try
        {
            await antiforgery.ValidateRequestAsync(context);
            form = await context.Request.ReadFormAsync(cancellationToken);
        }
        catch (AntiforgeryValidationException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Form expired",
                detail: "The report form's antiforgery token is missing or invalid: reload the request's page and send the report again.");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Report too large", detail: $"The form may carry up to {FormLimit / 1024} KiB.");
        }
        catch (InvalidDataException ex)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed form", detail: ex.Message);
        }

        var page = new Uri($"{context.Request.Scheme}://{context.Request.Host}/requests/{kind}/{Uri.EscapeDataString(id)}");
        try
        {
            var report = await reporter.ReportAsync(context.User.UserName()!, (await PortalSignInService.TokenAsync(context))!, kind, id, form["words"], page, cancellationToken);
            return TypedResults.Redirect($"/requests/{kind}/{Uri.EscapeDataString(id)}?reported={report.Id}#help");
        }
        catch (ReportRefusedException ex)
        {
            return TypedResults.Problem(statusCode: ex.Status, title: ex.Title, detail: ex.Message);
        }
    }
}
