using System.CommandLine;
using Xenolith.Cli;

RootCommand root = new("Xenolith: a Xen-compatible paravirtualizing hypervisor on Linux KVM.")
{
    RunCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
