namespace Shoppe.Testing;

/// <summary>A clock a test moves by hand: a service given it (as its one <see cref="TimeProvider"/>) ages in an instant.</summary>
public sealed class ManualClock : TimeProvider
{
    private long _ticks = DateTimeOffset.UtcNow.UtcTicks;

    /// <summary>The time it says.</summary>
    public DateTimeOffset Now
    {
        get => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _ticks, value.UtcTicks);
    }

    /// <summary>Moves it on by <paramref name="by"/>.</summary>
    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    /// <inheritdoc/>
    public override DateTimeOffset GetUtcNow() => Now;
}
