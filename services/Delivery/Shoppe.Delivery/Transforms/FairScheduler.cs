namespace Shoppe.Delivery.Transforms;

/// <summary>One file of one transform, waiting for a worker.</summary>
public sealed record FileWork(string RequestId, string Owner, int Index, string Input, int Attempt);

/// <summary>
/// Hands out file work fairly: round-robin over the users who have work waiting, and within a user round-robin
/// over their transforms. A user's 1000-file transform therefore takes at most every other worker turn while a
/// second user waits with one file: the small request starts at the next free worker, not after the big one.
/// </summary>
public sealed class FairScheduler : IDisposable
{
    private readonly Lock _gate = new();
    private readonly LinkedList<UserQueue> _users = new();
    private readonly Dictionary<string, UserQueue> _byUser = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _available = new(0);

    /// <summary>Files waiting, over all users.</summary>
    public int Waiting { get; private set; }

    public void Enqueue(FileWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_gate)
        {
            if (!_byUser.TryGetValue(work.Owner, out var user))
            {
                user = new UserQueue(work.Owner);
                _byUser[work.Owner] = user;
                // A user with nothing waiting had no turn lately: first in line, before users already being served.
                _users.AddFirst(user);
            }

            if (!user.ByRequest.TryGetValue(work.RequestId, out var request))
            {
                request = new Queue<FileWork>();
                user.ByRequest[work.RequestId] = request;
                user.Requests.AddLast(work.RequestId);
            }

            request.Enqueue(work);
            Waiting++;
        }

        _available.Release();
    }

    /// <summary>Waits for the next file, chosen fairly.</summary>
    public async Task<FileWork> DequeueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken);
            lock (_gate)
            {
                if (TakeNext() is { } work)
                {
                    return work;
                }
            }

            // The permit belonged to work that was removed (a cancelled transform): wait for the next.
        }
    }

    private FileWork? TakeNext()
    {
        var node = _users.First;
        while (node is not null)
        {
            var user = node.Value;
            while (user.Requests.First is { } requestNode)
            {
                var queue = user.ByRequest[requestNode.Value];
                if (queue.Count == 0)
                {
                    user.Requests.RemoveFirst();
                    user.ByRequest.Remove(requestNode.Value);
                    continue;
                }

                var work = queue.Dequeue();
                Waiting--;
                // This transform goes to the back of its user's line, and the user to the back of the users' line.
                user.Requests.RemoveFirst();
                if (queue.Count > 0)
                {
                    user.Requests.AddLast(requestNode);
                }
                else
                {
                    user.ByRequest.Remove(requestNode.Value);
                }

                _users.Remove(node);
                if (user.Requests.Count > 0)
                {
                    _users.AddLast(node);
                }
                else
                {
                    _byUser.Remove(user.Name);
                }

                return work;
            }

            var next = node.Next;
            _users.Remove(node);
            _byUser.Remove(user.Name);
            node = next;
        }

        return null;
    }

    /// <summary>Drops a transform's waiting files (it was cancelled); returns how many.</summary>
    public int Remove(string requestId)
    {
        lock (_gate)
        {
            foreach (var user in _byUser.Values)
            {
                if (user.ByRequest.Remove(requestId, out var queue))
                {
                    user.Requests.Remove(requestId);
                    Waiting -= queue.Count;
                    return queue.Count;
                }
            }

            return 0;
        }
    }

    public void Dispose() => _available.Dispose();

    private sealed class UserQueue(string name)
    {
        public string Name { get; } = name;

        public LinkedList<string> Requests { get; } = new();

        public Dictionary<string, Queue<FileWork>> ByRequest { get; } = new(StringComparer.Ordinal);
    }
}
