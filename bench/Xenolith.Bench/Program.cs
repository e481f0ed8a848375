using Xenolith.Bench;
using Xenolith.Domain0.Toolstack;
using Xenolith.Kvm;

// stdout carries only figure lines so that scripts can parse it; everything else goes to stderr.
Benchmark[] benchmarks =
[
    new("hypercall", "cost of one hypercall through the hypercall page and through syscall",
        progress => GuestLoopBenchmark.RunAsync("hypercall", [new("page", "hypercall.page"), new("syscall", "hypercall.syscall")], progress)),
    new("syscall", "guest user -> guest kernel -> guest user system-call round trip (two exits at least)",
        progress => GuestLoopBenchmark.RunAsync("syscall",
            [new("usersyscall", "syscall.round_trip"), new("usersyscallgs", "syscall.round_trip_sregs")], progress)),
    new("exception", "an int3 bounced to the guest kernel's handler and back with iret (two exits at least)",
        progress => GuestLoopBenchmark.RunAsync("exception", [new("exception", "exception.bounce")], progress)),
    new("mmu", "mapping 1024 pages: one batched mmu_update, 1024 single mmu_updates, 1024 trapped page-table writes",
        MmuBenchmark.RunAsync),
    new("evtchn", "interdomain event-channel ping-pong round trip between two blocked domains", EvtchnBenchmark.RunAsync),
    new("timer", "wake-up lateness of 10 ms set_timer_op sleeps, beside event delivery into a running vCPU", TimerBenchmark.RunAsync),
    new("grant", "4 KiB grant copies: Domain0's backend copy API and a guest's GNTTABOP_copy (batched and single), against memcpys", GrantBenchmark.RunAsync),
    new("boot", "process start and in-process build to the hello guest's first console byte", BootBenchmark.RunAsync),
    new("xenstore", "xenstore reads per second from a host client over xenstored's Unix socket (and from a guest over its ring)",
        XenstoreBenchmark.RunAsync),
];

if (args.Length != 1 || (args[0] != "all" && !benchmarks.Any(b => b.Name == args[0])))
{
    Console.Error.WriteLine("usage: Xenolith.Bench NAME");
    Console.Error.WriteLine();
    foreach (Benchmark benchmark in benchmarks)
        Console.Error.WriteLine($"  {benchmark.Name,-10} {benchmark.Description}");
    Console.Error.WriteLine($"  {"all",-10} every benchmark above, in order");
    return ExitCodes.Usage;
}

if (!KvmSystem.IsAvailable(out string reason))
{
    Console.Error.WriteLine($"bench: KVM is not available ({reason})");
    return ExitCodes.Unavailable;
}

try
{
    foreach (Benchmark benchmark in benchmarks.Where(b => args[0] == "all" || b.Name == args[0]))
    {
        Console.Error.WriteLine($"bench: running {benchmark.Name}");
        foreach (Figure figure in await benchmark.RunAsync(Console.Error))
            Console.Out.WriteLine(figure.Format());
    }
    return 0;
}
catch (BenchmarkException e)
{
    Console.Error.WriteLine($"bench: {e.Message}");
    return ExitCodes.Internal;
}
