using System.Globalization;

namespace Shoppe.Columnar.Selection;

/// <summary>A node of a parsed selection; <see cref="Position"/> is the 0-based character where it starts.</summary>
public abstract record Node(int Position);

public sealed record NumberNode(double Value, bool IsInteger, int Position) : Node(Position);

public sealed record BoolNode(bool Value, int Position) : Node(Position);

/// <summary>A column of the dataset (<c>MET_pt</c>, <c>Jet_pt</c>).</summary>
public sealed record ColumnNode(string Name, int Position) : Node(Position);

/// <summary>A field of an object or choice (<c>m.pt</c> for <c>Muon_pt</c> of the object <c>m</c>; <c>t.a</c>, <c>argmin(...).pt</c>).</summary>
public sealed record MemberNode(Node Target, string Field, int Position) : Node(Position);

/// <summary><c>let name = value in body</c>: <paramref name="Name"/> stands for the value inside the body.</summary>
public sealed record LetNode(string Name, Node Value, Node Body, int Position) : Node(Position);

/// <summary><c>x in t</c> (or <c>x not in t</c>): the object <c>x</c> is one of the objects of the choice <c>t</c>.</summary>
public sealed record MembershipNode(Node Item, Node Choice, bool Negated, int Position) : Node(Position);

public sealed record UnaryNode(string Operator, Node Operand, int Position) : Node(Position);

public sealed record BinaryNode(string Operator, Node Left, Node Right, int Position) : Node(Position);

public sealed record CallNode(string Function, IReadOnlyList<Node> Arguments, int Position) : Node(Position);

/// <summary><c>Jet_pt[Jet_pt &gt; 40]</c> (a mask) or <c>Jet_pt[0]</c> (an element).</summary>
public sealed record IndexNode(Node Target, Node Index, int Position) : Node(Position);

/// <summary>
/// <c>a, b in Muon where cond: expr</c>: every object (one variable) or every unordered combination of distinct objects
/// (two to four) of a source: one collection or a union (<c>Electron + Muon</c>). No body means <c>true</c>.
/// </summary>
public sealed record ComprehensionNode(IReadOnlyList<string> Variables, IReadOnlyList<string> Sources, Node? Where, Node? Body, int Position, int SourcePosition) : Node(Position)
{
    /// <summary>The source as written (<c>Electron + Muon</c>).</summary>
    public string Source => string.Join(" + ", Sources);
}

/// <summary>An output column: an expression and the name it is written under.</summary>
public sealed record OutputColumn(string Name, Node Expression, string Text);

/// <summary>
/// The selection language's one parser (docs/selection-language.md has the grammar). Recursive descent over a
/// hand-written lexer; every error is a <see cref="SelectionException"/> that names the character where the input
/// went wrong. Depth is bounded so that no input, however nested, can exhaust the stack.
/// </summary>
public sealed class SelectionParser
{
    /// <summary>Longest expression accepted (a filter is typed by a person; anything longer is an error).</summary>
    public const int MaxLength = 16 * 1024;

    /// <summary>Deepest nesting accepted; far beyond any physics selection, far below the stack's limit.</summary>
    public const int MaxDepth = 200;

    /// <summary>
    /// Most binary operators in one expression. A chain (<c>1+1+1...</c>) nests one level per operator in the tree,
    /// so this bounds the depth that binding and evaluation recurse to, as <see cref="MaxDepth"/> bounds parentheses.
    /// </summary>
    public const int MaxOperators = 1000;

    private readonly string _text;
    private readonly List<Token> _tokens;
    private int _next;
    private int _depth;
    private int _operators;
    private int _brackets;
    private int _letValue = -1;

    private SelectionParser(string text)
    {
        _text = text;
        _tokens = Lex(text);
    }

    /// <summary>Parses a whole expression (a filter, or one column's expression).</summary>
    public static Node Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parser = new SelectionParser(text);
        var node = parser.Expression();
        parser.Expect(TokenKind.End, "the end of the expression");
        return node;
    }

    /// <summary>Parses an output column: <c>expr</c> or <c>name = expr</c>.</summary>
    public static OutputColumn ParseColumn(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parser = new SelectionParser(text);
        string? alias = null;
        if (parser.Peek.Kind == TokenKind.Identifier && parser.PeekAt(1).Kind == TokenKind.Assign)
        {
            alias = parser.Peek.Text;
            parser._next += 2;
        }

        var start = parser.Peek.Position;
        var node = parser.Expression();
        parser.Expect(TokenKind.End, "the end of the column");
        var name = alias ?? node switch
        {
            ColumnNode c => c.Name,
            IndexNode { Target: ColumnNode c, Index: not NumberNode } => c.Name, // a masked column keeps its name
            _ => text[start..].Trim(),
        };
        return new OutputColumn(name, node, text[start..].Trim());
    }

    private Token Peek => _tokens[_next];

    private Token PeekAt(int ahead) => _tokens[Math.Min(_next + ahead, _tokens.Count - 1)];

    private Token Take() => _tokens[_next++];

    private Token Expect(TokenKind kind, string what)
    {
        var token = Peek;
        if (token.Kind != kind)
        {
            throw Error(token, $"expected {what}, found {Describe(token)}");
        }

        _next++;
        return token;
    }

    private SelectionException Error(Token at, string message) => new(message, _text, at.Position);

    private static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End => "the end of the input",
        TokenKind.Number => $"the number {token.Text}",
        TokenKind.Identifier => $"'{token.Text}'",
        _ => $"'{token.Text}'",
    };

    private Node Expression()
    {
        if (++_depth > MaxDepth)
        {
            throw Error(Peek, $"the expression nests deeper than {MaxDepth} levels");
        }

        try
        {
            return Peek is { Kind: TokenKind.Identifier, Text: "let" } && PeekAt(1).Kind == TokenKind.Identifier && PeekAt(2).Kind == TokenKind.Assign ? Let() : Or();
        }
        finally
        {
            _depth--;
        }
    }

    private LetNode Let()
    {
        var start = Take();
        var name = Take();
        if (Keywords.Contains(name.Text))
        {
            throw Error(name, $"'{name.Text}' is a word of the language; name the value otherwise");
        }

        Take(); // =
        // In the value, a bare 'in' ends it (let t = ... in body); inside brackets it is membership again.
        var outer = _letValue;
        _letValue = _brackets;
        Node value;
        try
        {
            value = Expression();
        }
        finally
        {
            _letValue = outer;
        }

        var keyword = Peek;
        if (keyword is not { Kind: TokenKind.Identifier, Text: "in" })
        {
            throw Error(keyword, $"expected 'in' after the value of '{name.Text}' (let {name.Text} = ... in ...), found {Describe(keyword)}");
        }

        _next++;
        return new LetNode(name.Text, value, Expression(), start.Position);
    }

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal) { "let", "in", "where", "true", "false", "and", "or", "not" };

    private Node Or()
    {
        var left = And();
        while (Peek.Kind == TokenKind.Or)
        {
            var op = Take();
            left = Binary("||", left, And(), op.Position);
        }

        return left;
    }

    private Node And()
    {
        var left = Not();
        while (Peek.Kind == TokenKind.And)
        {
            var op = Take();
            left = Binary("&&", left, Not(), op.Position);
        }

        return left;
    }

    private Node Not()
    {
        if (Peek.Kind == TokenKind.Not)
        {
            var op = Take();
            Enter(op);
            try
            {
                return new UnaryNode("!", Not(), op.Position);
            }
            finally
            {
                _depth--;
            }
        }

        return Comparison();
    }

    private Node Comparison()
    {
        var left = Additive();
        var negated = Peek.Kind == TokenKind.Not && PeekAt(1) is { Kind: TokenKind.Identifier, Text: "in" };
        if ((negated || Peek is { Kind: TokenKind.Identifier, Text: "in" }) && _letValue != _brackets)
        {
            var op = Take();
            if (negated)
            {
                Take();
            }

            return new MembershipNode(left, Additive(), negated, op.Position);
        }

        Node? chain = null;
        while (Peek.Kind == TokenKind.Compare)
        {
            // a < b < c reads as a < b && b < c, as a physicist writes a window.
            var op = Take();
            var right = Additive();
            var test = Binary(op.Text, left, right, op.Position);
            chain = chain is null ? test : Binary("&&", chain, test, op.Position);
            left = right;
        }

        if (Peek.Kind == TokenKind.Assign)
        {
            throw Error(Peek, "'=' only names an output column; compare with '=='");
        }

        return chain ?? left;
    }

    private Node Additive()
    {
        var left = Multiplicative();
        while (Peek.Kind == TokenKind.Plus || Peek.Kind == TokenKind.Minus)
        {
            var op = Take();
            left = Binary(op.Text, left, Multiplicative(), op.Position);
        }

        return left;
    }

    private Node Multiplicative()
    {
        var left = Unary();
        while (Peek.Kind is TokenKind.Star or TokenKind.Slash or TokenKind.Percent)
        {
            var op = Take();
            left = Binary(op.Text, left, Unary(), op.Position);
        }

        return left;
    }

    private Node Unary()
    {
        if (Peek.Kind is TokenKind.Minus or TokenKind.Plus or TokenKind.Not)
        {
            var op = Take();
            Enter(op);
            try
            {
                var operand = op.Kind == TokenKind.Not ? Not() : Unary();
                return op.Kind switch
                {
                    TokenKind.Plus => operand,
                    TokenKind.Not => new UnaryNode("!", operand, op.Position),
                    _ => operand is NumberNode n ? n with { Value = -n.Value, Position = op.Position } : new UnaryNode("-", operand, op.Position),
                };
            }
            finally
            {
                _depth--;
            }
        }

        return Power();
    }

    private Node Power()
    {
        var left = Postfix();
        if (Peek.Kind == TokenKind.Power)
        {
            var op = Take();
            Enter(op);
            try
            {
                return Binary("**", left, Unary(), op.Position); // right-associative
            }
            finally
            {
                _depth--;
            }
        }

        return left;
    }

    private BinaryNode Binary(string op, Node left, Node right, int position)
    {
        if (++_operators > MaxOperators)
        {
            throw new SelectionException($"the expression has more than {MaxOperators} operators", _text, position);
        }

        return new BinaryNode(op, left, right, position);
    }

    private void Enter(Token at)
    {
        if (++_depth > MaxDepth)
        {
            throw Error(at, $"the expression nests deeper than {MaxDepth} levels");
        }
    }

    private Node Postfix()
    {
        var node = Primary();
        while (Peek.Kind is TokenKind.LeftBracket or TokenKind.Dot)
        {
            if (Peek.Kind == TokenKind.Dot)
            {
                var dot = Take();
                if (++_operators > MaxOperators)
                {
                    throw Error(dot, $"the expression has more than {MaxOperators} operators");
                }

                var field = Expect(TokenKind.Identifier, "a field name after '.'");
                node = new MemberNode(node, field.Text, field.Position);
                continue;
            }

            var open = Take();
            if (++_operators > MaxOperators)
            {
                throw Error(open, $"the expression has more than {MaxOperators} operators");
            }

            _brackets++;
            var index = Expression();
            _brackets--;
            Expect(TokenKind.RightBracket, "']' to close the '[' at character " + (open.Position + 1));
            node = new IndexNode(node, index, open.Position);
        }

        return node;
    }

    private Node Primary()
    {
        var token = Peek;
        switch (token.Kind)
        {
            case TokenKind.Number:
                _next++;
                if (!double.TryParse(token.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || double.IsInfinity(value))
                {
                    throw Error(token, $"'{token.Text}' is not a number this language can hold");
                }

                return new NumberNode(value, !token.Text.Contains('.', StringComparison.Ordinal) && !token.Text.Contains('e', StringComparison.OrdinalIgnoreCase), token.Position);
            case TokenKind.LeftParen:
                _next++;
                _brackets++;
                var inner = Expression();
                _brackets--;
                Expect(TokenKind.RightParen, "')' to close the '(' at character " + (token.Position + 1));
                return inner;
            case TokenKind.Identifier:
                _next++;
                if (token.Text is "true" or "false")
                {
                    return new BoolNode(token.Text == "true", token.Position);
                }

                if (Peek.Kind == TokenKind.LeftParen)
                {
                    return Call(token);
                }

                return new ColumnNode(token.Text, token.Position);
            default:
                throw Error(token, token.Kind == TokenKind.End ? "the expression ends where a value was expected" : $"expected a value, found {Describe(token)}");
        }
    }

    private CallNode Call(Token name)
    {
        Take(); // (
        _brackets++;
        var arguments = new List<Node>();
        if (IsComprehensionAhead())
        {
            arguments.Add(Comprehension());
        }
        else if (Peek.Kind != TokenKind.RightParen)
        {
            arguments.Add(Expression());
            while (Peek.Kind == TokenKind.Comma)
            {
                _next++;
                arguments.Add(Expression());
            }
        }

        _brackets--;
        Expect(TokenKind.RightParen, $"')' to close the call of {name.Text}");
        return new CallNode(name.Text, arguments, name.Position);
    }

    /// <summary><c>x in C:</c> or <c>x, y in C:</c> follows the opening parenthesis.</summary>
    private bool IsComprehensionAhead()
    {
        var i = 0;
        while (PeekAt(i).Kind == TokenKind.Identifier && PeekAt(i + 1).Kind == TokenKind.Comma)
        {
            i += 2;
        }

        return PeekAt(i).Kind == TokenKind.Identifier && PeekAt(i + 1) is { Kind: TokenKind.Identifier, Text: "in" }
            && PeekAt(i + 2).Kind == TokenKind.Identifier
            && (PeekAt(i + 3).Kind is TokenKind.Colon or TokenKind.Plus or TokenKind.RightParen || PeekAt(i + 3) is { Kind: TokenKind.Identifier, Text: "where" });
    }

    /// <summary>Most variables of one comprehension: every combination of four distinct objects is already a lot of combinations.</summary>
    public const int MaxVariables = 4;

    private ComprehensionNode Comprehension()
    {
        var start = Peek.Position;
        var variables = new List<string>();
        while (true)
        {
            var variable = Expect(TokenKind.Identifier, "a variable name");
            if (variables.Contains(variable.Text))
            {
                throw Error(variable, $"the variable '{variable.Text}' is named twice");
            }

            variables.Add(variable.Text);
            if (Peek.Kind != TokenKind.Comma)
            {
                break;
            }

            _next++;
        }

        var keyword = Take(); // "in", checked by IsComprehensionAhead
        if (variables.Count > MaxVariables)
        {
            throw Error(keyword, $"a comprehension takes one variable (each object) up to {MaxVariables} (each combination of {MaxVariables} distinct objects)");
        }

        var sourceStart = Peek.Position;
        var sources = new List<string> { Expect(TokenKind.Identifier, "a collection name (Muon, Jet, ...) after 'in'").Text };
        while (Peek.Kind == TokenKind.Plus)
        {
            _next++;
            var more = Expect(TokenKind.Identifier, "a collection name after '+' (Electron + Muon)");
            if (sources.Contains(more.Text))
            {
                throw Error(more, $"{more.Text} is named twice in the union");
            }

            sources.Add(more.Text);
        }

        Node? where = null;
        if (Peek is { Kind: TokenKind.Identifier, Text: "where" })
        {
            _next++;
            where = Expression();
        }

        Node? body = null;
        if (Peek.Kind == TokenKind.Colon)
        {
            _next++;
            body = Expression();
        }
        else if (Peek.Kind != TokenKind.RightParen)
        {
            throw Error(Peek, $"expected ':' before the comprehension's expression{(where is null ? ", 'where', '+'" : "")} or ')', found {Describe(Peek)}");
        }

        return new ComprehensionNode(variables, sources, where, body, start, sourceStart);
    }

    private enum TokenKind
    {
        End, Number, Identifier, LeftParen, RightParen, LeftBracket, RightBracket, Comma, Dot, Colon,
        Plus, Minus, Star, Slash, Percent, Power, Compare, And, Or, Not, Assign,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Position);

    private static List<Token> Lex(string text)
    {
        if (text.Length > MaxLength)
        {
            throw new SelectionException($"the expression is {text.Length} characters long; at most {MaxLength} are accepted", text, MaxLength);
        }

        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var start = i;
            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
                {
                    i++;
                }

                if (i < text.Length && text[i] is 'e' or 'E')
                {
                    var j = i + 1;
                    if (j < text.Length && text[j] is '+' or '-')
                    {
                        j++;
                    }

                    if (j < text.Length && char.IsAsciiDigit(text[j]))
                    {
                        i = j;
                        while (i < text.Length && char.IsAsciiDigit(text[i]))
                        {
                            i++;
                        }
                    }
                }

                if (i < text.Length && (char.IsAsciiLetter(text[i]) || text[i] == '_'))
                {
                    throw new SelectionException($"'{text[start..(i + 1)]}' is neither a number nor a name", text, start);
                }

                tokens.Add(new Token(TokenKind.Number, text[start..i], start));
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }

                var word = text[start..i];
                var kind = word switch
                {
                    "and" => TokenKind.And,
                    "or" => TokenKind.Or,
                    "not" => TokenKind.Not,
                    _ => TokenKind.Identifier,
                };
                tokens.Add(new Token(kind, word, start));
                continue;
            }

            var two = i + 1 < text.Length ? text.Substring(i, 2) : null;
            (TokenKind Kind, string Text)? op = two switch
            {
                "&&" => (TokenKind.And, "&&"),
                "||" => (TokenKind.Or, "||"),
                "==" => (TokenKind.Compare, "=="),
                "!=" => (TokenKind.Compare, "!="),
                "<=" => (TokenKind.Compare, "<="),
                ">=" => (TokenKind.Compare, ">="),
                "**" => (TokenKind.Power, "**"),
                _ => null,
            };
            op ??= c switch
            {
                '(' => (TokenKind.LeftParen, "("),
                ')' => (TokenKind.RightParen, ")"),
                '[' => (TokenKind.LeftBracket, "["),
                ']' => (TokenKind.RightBracket, "]"),
                ',' => (TokenKind.Comma, ","),
                '.' => (TokenKind.Dot, "."),
                ':' => (TokenKind.Colon, ":"),
                '+' => (TokenKind.Plus, "+"),
                '-' => (TokenKind.Minus, "-"),
                '*' => (TokenKind.Star, "*"),
                '/' => (TokenKind.Slash, "/"),
                '%' => (TokenKind.Percent, "%"),
                '<' => (TokenKind.Compare, "<"),
                '>' => (TokenKind.Compare, ">"),
                '!' => (TokenKind.Not, "!"),
                '=' => (TokenKind.Assign, "="),
                _ => null,
            };
            if (op is null && c is '&' or '|')
            {
                throw new SelectionException($"'{c}' alone is not an operator; write {c}{c} ({(c == '&' ? "and" : "or")})", text, start);
            }

            if (op is null)
            {
                var shown = char.IsControl(c) ? $"U+{(int)c:X4}" : c.ToString();
                throw new SelectionException($"unexpected character '{shown}'", text, start);
            }

            tokens.Add(new Token(op.Value.Kind, op.Value.Text, start));
            i += op.Value.Text.Length;
        }

        tokens.Add(new Token(TokenKind.End, "", text.Length));
        return tokens;
    }
}

/// <summary>An expression written out in one canonical way (fully parenthesised): two texts that parse alike print alike.</summary>
internal static class CanonicalText
{
    public static string Of(Node node) => node switch
    {
        NumberNode n => n.Value.ToString("R", CultureInfo.InvariantCulture),
        BoolNode b => b.Value ? "true" : "false",
        ColumnNode c => c.Name,
        MemberNode m => $"{Of(m.Target)}.{m.Field}",
        LetNode l => $"(let {l.Name} = {Of(l.Value)} in {Of(l.Body)})",
        MembershipNode m => $"({Of(m.Item)}{(m.Negated ? " not in " : " in ")}{Of(m.Choice)})",
        UnaryNode u => $"({u.Operator}{Of(u.Operand)})",
        BinaryNode b => $"({Of(b.Left)} {b.Operator} {Of(b.Right)})",
        CallNode c => $"{c.Function}({string.Join(", ", c.Arguments.Select(Of))})",
        IndexNode i => $"{Of(i.Target)}[{Of(i.Index)}]",
        ComprehensionNode c => $"{string.Join(", ", c.Variables)} in {c.Source}{(c.Where is null ? "" : " where " + Of(c.Where))}{(c.Body is null ? "" : ": " + Of(c.Body))}",
        _ => throw new InvalidOperationException(node.GetType().Name),
    };
}
