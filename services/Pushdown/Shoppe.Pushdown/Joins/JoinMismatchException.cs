namespace Shoppe.Pushdown.Joins;

/// <summary>
/// Joined files that do not line up row by row on (run, luminosityBlock, event): the message names both files, the
/// first differing row (counted from 0 in the file) and both identities, or which file has events the other lacks.
/// </summary>
public sealed class JoinMismatchException(string message) : Exception(message);
