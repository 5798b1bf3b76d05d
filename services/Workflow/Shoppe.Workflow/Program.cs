// The workflow service: DAG workflows of up to millions of jobs, run by pilots, and data-carousel triggers (like
// iDDS; docs/workflow.md).
using Shoppe.Security;
using Shoppe.Workflow.Apis;
using Shoppe.Workflow.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShoppeAuthentication();
builder.AddWorkflowServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseShoppeAuthentication();
app.MapWorkflowsApi();
app.MapPilotsApi();
await app.RunAsync();
