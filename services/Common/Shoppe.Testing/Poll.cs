namespace Shoppe.Testing;

/// <summary>
/// Waits on a condition with a deadline, in place of fixed sleeps: a test goes on the moment what it waits for is
/// true, and fails saying what it waited for when it never becomes true.
/// </summary>
public static class Poll
{
    /// <summary>How often a condition is looked at.</summary>
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(25);

    /// <summary>Waits until <paramref name="condition"/> is true; <see cref="TimeoutException"/> naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = TimeProvider.System.GetTimestamp() + (long)(timeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
        while (!await condition())
        {
            if (TimeProvider.System.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0.#} s for {what}.");
            }

            await Task.Delay(Interval, cancellationToken);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> is true (a condition that needs no I/O).</summary>
    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return UntilAsync(() => Task.FromResult(condition()), timeout, what, cancellationToken);
    }

    /// <summary>Waits until <paramref name="read"/> gives a value <paramref name="accept"/> takes, and returns it.</summary>
    public static async Task<T> ForAsync<T>(Func<Task<T>> read, Func<T, bool> accept, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(accept);
        var value = default(T)!;
        await UntilAsync(async () => accept(value = await read()), timeout, what, cancellationToken);
        return value;
    }
}
