using System.CommandLine;
using Xenolith.Cli;

RootCommand root = new("Xenolith: a Xen-compatible paravirtualizing hypervisor on Linux KVM.")
{
    RunCommand.Create(),
};
ParseResult parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (System.CommandLine.Parsing.ParseError error in parse.Errors)
        Console.Error.WriteLine($"xenolith: {error.Message}");
    return Xenolith.Domain0.Toolstack.ExitCodes.Usage;
}
return await parse.InvokeAsync();
