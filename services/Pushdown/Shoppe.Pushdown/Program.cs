// The pushdown service: filters and projections next to the data, Arrow batches returned (like SkyHook).
// Its API arrives with its own issue; until then it serves health and /version, and 404 elsewhere.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
