using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Memory;

/// <summary>
/// Recomputes every frame's reference counts from the contents of the validated page tables and
/// compares them with what <see cref="PageTypes"/> keeps, plus the structural invariants the rest of
/// the hypervisor relies on. Frames owned by Xen (frame 0) are left alone.
/// </summary>
public sealed class PageTypeInvariantChecker
{
    private readonly MachineMemory memory;
    private readonly uint[] _refs;
    private readonly uint[] _types;
    private readonly int[] _linearEntries;
    private readonly int[] _linearUses;
    private readonly uint[] _foreignEntries;
    private readonly uint[] _foreignWritableEntries;
    private readonly ulong[] _hypervisorSlots = [.. Enumerable.Range(FakePageTableOwner.FirstHypervisorSlot, FakePageTableOwner.EndHypervisorSlot - FakePageTableOwner.FirstHypervisorSlot).Select(FakePageTableOwner.HypervisorSlotMarker)];

    /// <summary>Present entries of validated tables seen by the last check.</summary>
    public int LiveEntries { get; private set; }

    public PageTypeInvariantChecker(MachineMemory memory)
    {
        this.memory = memory;
        _refs = new uint[memory.FrameCount];
        _types = new uint[memory.FrameCount];
        _linearEntries = new int[memory.FrameCount];
        _linearUses = new int[memory.FrameCount];
        _foreignEntries = new uint[memory.FrameCount];
        _foreignWritableEntries = new uint[memory.FrameCount];
        _ = AllPages(memory);
    }

    /// <summary>
    /// Every frame's bookkeeping as one span, so the checks after each random operation stay cheap
    /// in a Debug build. MachineMemory keeps it in one array; that is checked here, not assumed.
    /// </summary>
    public static Span<PageInfo> AllPages(MachineMemory memory)
    {
        int n = checked((int)memory.FrameCount);
        Span<PageInfo> pages = MemoryMarshal.CreateSpan(ref memory.Page(0), n);
        if (!Unsafe.AreSame(ref pages[n - 1], ref memory.Page((ulong)n - 1)) || !Unsafe.AreSame(ref pages[n / 2], ref memory.Page((ulong)n / 2)))
            Assert.Fail("MachineMemory no longer keeps its PageInfo in one array; the checker needs another way to read them");
        return pages;
    }

    private static bool IsTable(FrameType type) => type is >= FrameType.L1PageTable and <= FrameType.L4PageTable;

    private Span<ulong> Entries(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(memory.Frame(mfn));

    /// <summary>Throws (an xunit failure) describing the first broken invariant.</summary>
    public void Check(string context = "") => Check(() => context);

    /// <inheritdoc cref="Check(string)"/>
    public void Check(Func<string> context)
    {
        Span<PageInfo> pages = AllPages(memory);
        Array.Clear(_refs);
        Array.Clear(_types);
        Array.Clear(_linearEntries);
        Array.Clear(_linearUses);
        Array.Clear(_foreignEntries);
        Array.Clear(_foreignWritableEntries);
        ulong free = 0;
        LiveEntries = 0;

        for (int mfn = 0; mfn < pages.Length; mfn++)
        {
            ref PageInfo p = ref pages[mfn];
            if (p.Owner == DomainIds.Invalid)
            {
                free++;
                if (p.RefCount != 0 || p.TypeCount != 0 || p.Flags != PageFlags.None || p.LinearEntries != 0 || p.LinearUses != 0)
                    Fail(context, $"free mfn {mfn:x} still referenced: {Describe((ulong)mfn)}");
                continue;
            }
            if (p.Owner == DomainIds.Xen)
                continue;
            bool table = IsTable(p.Type), validated = (p.Flags & PageFlags.Validated) != 0;
            if (p.RefCount == 0)
                Fail(context, $"mfn {mfn:x} owned by {p.Owner} with no reference left (should be back in the pool): {Describe((ulong)mfn)}");
            if ((p.Flags & PageFlags.Allocated) != 0)
                _refs[mfn]++;
            _refs[mfn] += p.ForeignRefs;
            _types[mfn] += p.ForeignWritable;
            if ((p.Flags & PageFlags.Pinned) != 0)
            {
                if (!table || !validated)
                    Fail(context, $"pinned mfn {mfn:x} is not a validated table: {Describe((ulong)mfn)}");
                _refs[mfn]++;
                _types[mfn]++;
            }
            if (validated && (!table || p.TypeCount == 0))
                Fail(context, $"validated mfn {mfn:x} is not a live page table: {Describe((ulong)mfn)}");
            if (table && p.TypeCount > 0 && !validated)
                Fail(context, $"live table mfn {mfn:x} is not validated: {Describe((ulong)mfn)}");
        }
        if (memory.FreeFrames != free)
            Fail(context, $"pool holds {memory.FreeFrames} frames but {free} are ownerless");

        for (int index = 1; index < pages.Length; index++)
        {
            ref PageInfo t = ref pages[index];
            if ((t.Flags & PageFlags.Validated) == 0 || t.Owner == DomainIds.Invalid || t.Owner == DomainIds.Xen)
                continue;
            ulong table = (ulong)index;
            int level = PageTableRules.LevelOf(t.Type);
            Span<ulong> entries = Entries(table);
            int end = entries.Length;
            if (level == 4)
            {
                Span<ulong> xen = entries[FakePageTableOwner.FirstHypervisorSlot..FakePageTableOwner.EndHypervisorSlot];
                if (!xen.SequenceEqual(_hypervisorSlots))
                    Fail(context, $"L4 {table:x}: slots 256-271 are not the hypervisor's entries");
                CheckEntries(table, t.Owner, level, entries, 0, FakePageTableOwner.FirstHypervisorSlot, context);
                CheckEntries(table, t.Owner, level, entries, FakePageTableOwner.EndHypervisorSlot, end, context);
            }
            else
            {
                CheckEntries(table, t.Owner, level, entries, 0, end, context);
            }
        }

        for (int mfn = 1; mfn < pages.Length; mfn++)
        {
            ref PageInfo p = ref pages[mfn];
            if (p.Owner == DomainIds.Invalid || p.Owner == DomainIds.Xen)
                continue;
            if (p.RefCount != _refs[mfn] || p.TypeCount != _types[mfn])
                Fail(context, $"mfn {mfn:x}: {Describe((ulong)mfn)}, expected RefCount {_refs[mfn]} TypeCount {_types[mfn]}");
            if (_foreignEntries[mfn] > p.ForeignRefs || _foreignWritableEntries[mfn] > p.ForeignWritable || p.ForeignWritable > p.ForeignRefs)
                Fail(context, $"mfn {mfn:x}: {Describe((ulong)mfn)}, but {_foreignEntries[mfn]} foreign L1 entries ({_foreignWritableEntries[mfn]} writable) map it");
            if (p.LinearEntries != _linearEntries[mfn] || p.LinearUses != _linearUses[mfn])
                Fail(context, $"mfn {mfn:x}: {Describe((ulong)mfn)}, expected LinearEntries {_linearEntries[mfn]} LinearUses {_linearUses[mfn]}");
            if (_linearEntries[mfn] != 0 && _linearUses[mfn] != 0)
                Fail(context, $"mfn {mfn:x} both holds linear entries and is a linear target (nested linear tables)");
        }
    }

    /// <summary>Counts what the present entries in [start, end) of validated table <paramref name="table"/> hold.</summary>
    private void CheckEntries(ulong table, ushort owner, int level, Span<ulong> entries, int start, int end, Func<string> context)
    {
        int i = start;
        while (i < end)
        {
            int skip = entries[i..end].IndexOfAnyExcept(0UL);
            if (skip < 0)
                return;
            i += skip;
            ulong e = entries[i];
            int index = i++;
            if ((e & Pte.Present) == 0)
                continue;
            LiveEntries++;
            if ((e & PageTableRules.Disallowed(level)) != 0)
                Fail(context, $"L{level} {table:x}[{index}] = {e:x16} has disallowed bits");
            if (PageTableRules.Adjust(e, level) != e)
                Fail(context, $"L{level} {table:x}[{index}] = {e:x16} was not adjusted");
            ulong target = Pte.Mfn(e);
            bool writable = (e & Pte.Writable) != 0;
            if (!memory.IsValidFrame(target))
                Fail(context, $"L{level} {table:x}[{index}] = {e:x16} maps a frame outside machine memory");
            ref PageInfo p = ref memory.Page(target);
            if (level == 1 && p.Owner != owner)
            {
                // A grant mapping: its references are among the frame's foreign ones.
                _foreignEntries[target]++;
                if (writable)
                    _foreignWritableEntries[target]++;
                continue;
            }
            if (p.Owner != owner)
                Fail(context, $"L{level} {table:x}[{index}] (owner {owner}) maps mfn {target:x} owned by {p.Owner}");
            if (level == 1)
            {
                _refs[target]++;
                if (writable)
                {
                    _types[target]++;
                    if (p.Type != FrameType.Writable)
                        Fail(context, $"L1 {table:x}[{index}] maps mfn {target:x} writable but it is {Describe(target)}");
                }
                continue;
            }
            if (target == table)
            {
                if (writable)
                    Fail(context, $"L{level} {table:x}[{index}] maps itself writable");
                continue;  // a self-map holds nothing
            }
            _refs[target]++;
            _types[target]++;
            if (p.Type == PageTableRules.TableType(level))
            {
                if (writable || !p.IsValidated)
                    Fail(context, $"linear L{level} {table:x}[{index}] = {e:x16} to {Describe(target)}");
                _linearEntries[table]++;
                _linearUses[target]++;
            }
            else if (p.Type != PageTableRules.TableType(level - 1) || !p.IsValidated)
            {
                Fail(context, $"L{level} {table:x}[{index}] = {e:x16} maps {Describe(target)}");
            }
        }
    }

    public string Describe(ulong mfn)
    {
        PageInfo p = memory.Page(mfn);
        return $"[mfn {mfn:x} owner {p.Owner} type {p.Type} flags {p.Flags} ref {p.RefCount} type# {p.TypeCount} foreign {p.ForeignRefs}/{p.ForeignWritable} linE {p.LinearEntries} linU {p.LinearUses}]";
    }

    private static void Fail(Func<string> context, string message)
    {
        string where = context();
        Assert.Fail(where.Length == 0 ? message : $"{where}: {message}");
    }
}

/// <summary>
/// Random sequences of pins, unpins, entry updates, releases and allocations over two domains,
/// with every reference count recomputed from the tables after every operation.
/// </summary>
public sealed class PageTypesRandomTests
{
    private const int Seeds = 20;
    private const int OpsPerSeed = 2000;
    private const int FramesPerOwner = 64;

    private static readonly ulong[] WhitelistBits =
    [
        Pte.Accessed, Pte.Dirty, Pte.NoExecute, Pte.User, 1UL << 9, 1UL << 10, 1UL << 11, 1UL << 52, 1UL << 55, 1UL << 62,
    ];

    public static TheoryData<int> AllSeeds()
    {
        var data = new TheoryData<int>();
        for (int seed = 1; seed <= Seeds; seed++)
            data.Add(seed);
        return data;
    }

    private enum OpKind : byte { Pin, Unpin, Update, Release, Allocate, BuildAndPin }

    private readonly record struct Op(OpKind Kind, ushort Owner, ulong Mfn, int Arg, ulong Value, bool PreserveAd, int Rc)
    {
        public override string ToString() => Kind switch
        {
            OpKind.Pin => $"d{Owner} pin {Mfn:x} as L{Arg} -> {Rc}",
            OpKind.Unpin => $"d{Owner} unpin {Mfn:x} -> {Rc}",
            OpKind.Update => $"d{Owner} update {Mfn:x}[{Arg}] = {Value:x16}{(PreserveAd ? " (preserve A/D)" : "")} -> {Rc}",
            OpKind.Release => $"d{Owner} release {Mfn:x} -> {Rc}",
            OpKind.BuildAndPin => $"d{Owner} chain L4 {Mfn:x} -> L3 -> L2 -> L1, pin -> {Arg}",
            _ => $"d{Owner} allocate -> {Mfn:x}",
        };
    }

    /// <summary>What the sequences reached, so a run that only ever fails cannot pass as coverage.</summary>
    private sealed class Stats
    {
        public readonly int[] PinnedAtLevel = new int[5];
        public int LiveUpdates, LiveUpdateFailures, RawWrites, LinearTargets, Frees, FastPaths, Devalidations;

        /// <summary>Successful L4 pins that validated at least an L3, an L2 and an L1 below.</summary>
        public int DeepL4Pins;

        /// <summary>The most present entries all validated tables held at once.</summary>
        public int MaxLiveEntries;
    }

    private sealed class World
    {
        public required Random Rng;
        public required MachineMemory Memory;
        public required PageTypes Types;
        public required FakePageTableOwner[] Owners;
        public required List<ulong>[] Frames;           // frames each owner has (had) allocated
        public required Dictionary<ulong, int> Intended; // the level a frame's contents are written for
    }

    /// <summary>
    /// Each seed must also reach the interesting states (the seeds are fixed, so these are
    /// deterministic), lest a generator that only produces refusals pass as coverage.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllSeeds))]
    public void RandomSequences_KeepEveryCountConsistent(int seed)
    {
        Stats s = Run(seed, OpsPerSeed);

        for (int level = 1; level <= 4; level++)
            Assert.True(s.PinnedAtLevel[level] >= 10, $"only {s.PinnedAtLevel[level]} successful L{level} pins");
        Assert.True(s.DeepL4Pins >= 1, "no L4 pin validated a whole L3/L2/L1 chain");
        Assert.True(s.MaxLiveEntries >= 10, $"validated tables never held more than {s.MaxLiveEntries} entries");
        Assert.True(s.RawWrites >= 100 && s.LiveUpdates >= 100, $"{s.RawWrites} raw writes, {s.LiveUpdates} live-table updates");
        Assert.True(s.LiveUpdateFailures >= 20, $"only {s.LiveUpdateFailures} refused updates");
        Assert.True(s.FastPaths >= 1, "no fast-path update");
        Assert.True(s.LinearTargets >= 1, "no linear page-table entry");
        Assert.True(s.Frees >= 20, $"only {s.Frees} frames went back to the pool");
        Assert.True(s.Devalidations >= 50, $"only {s.Devalidations} devalidations");
    }

    /// <summary>The checker itself: a consistent tree passes, and each kind of corruption is caught.</summary>
    [Theory]
    [InlineData("extra general reference")]
    [InlineData("missing type reference")]
    [InlineData("entry written behind the validator's back")]
    [InlineData("foreign frame in a live table")]
    [InlineData("validated flag on a dead table")]
    [InlineData("hypervisor slot overwritten")]
    [InlineData("linear counter off")]
    [InlineData("freed frame still counted")]
    public void Checker_CatchesCorruption(string corruption)
    {
        using var memory = new MachineMemory(1UL << 20);
        var types = new PageTypes(memory);
        var a = new FakePageTableOwner(1);
        ulong l4 = memory.Allocate(a.Id), l3 = memory.Allocate(a.Id), l2 = memory.Allocate(a.Id), l1 = memory.Allocate(a.Id);
        ulong data = memory.Allocate(a.Id), spare = memory.Allocate(a.Id), other = memory.Allocate(a.Id), theirs = memory.Allocate(2);
        Entries(memory, l4)[0] = Pte.Make(l3, Pte.Present | Pte.Writable);
        Entries(memory, l4)[1] = Pte.Make(other, Pte.Present);
        Entries(memory, l3)[0] = Pte.Make(l2, Pte.Present | Pte.Writable);
        Entries(memory, l2)[0] = Pte.Make(l1, Pte.Present | Pte.Writable);
        Entries(memory, l1)[0] = Pte.Make(data, Pte.Present | Pte.Writable);
        var checker = new PageTypeInvariantChecker(memory);
        lock (memory.SyncRoot)
        {
            Assert.Equal(0, types.Pin(other, FrameType.L4PageTable, a));
            Assert.Equal(0, types.Pin(l4, FrameType.L4PageTable, a));
            checker.Check();

            switch (corruption)
            {
                case "extra general reference": memory.Page(data).RefCount++; break;
                case "missing type reference": memory.Page(l2).TypeCount--; break;
                case "entry written behind the validator's back": Entries(memory, l1)[5] = Pte.Make(spare, Pte.Present | Pte.User | Pte.Global); break;
                case "foreign frame in a live table": Entries(memory, l1)[0] = Pte.Make(theirs, Pte.Present | Pte.Writable | Pte.User | Pte.Global); break;
                case "validated flag on a dead table": memory.Page(spare).Flags |= PageFlags.Validated; memory.Page(spare).Type = FrameType.L1PageTable; break;
                case "hypervisor slot overwritten": Entries(memory, l4)[260] = 0; break;
                case "linear counter off": memory.Page(other).LinearUses = 0; break;
                case "freed frame still counted": Assert.Equal(0, types.ReleaseAllocation(spare, a)); memory.Page(spare).RefCount = 1; break;
            }
            Assert.ThrowsAny<Exception>(() => checker.Check());
        }
    }

    private static Stats Run(int seed, int ops)
    {
        using var memory = new MachineMemory(1UL << 20);   // 256 frames: 2 x 64 owned, the rest free
        var world = new World
        {
            Rng = new Random(seed),
            Memory = memory,
            Types = new PageTypes(memory),
            Owners = [new FakePageTableOwner(1), new FakePageTableOwner(2)],
            Frames = [[], []],
            Intended = [],
        };
        for (int o = 0; o < 2; o++)
        {
            foreach (ulong mfn in memory.Allocate(world.Owners[o].Id, FramesPerOwner))
            {
                world.Frames[o].Add(mfn);
                world.Intended[mfn] = PickLevel(world.Rng);
            }
        }
        var checker = new PageTypeInvariantChecker(memory);
        var stats = new Stats();
        var history = new List<Op>(ops);
        var before = new PageInfo[memory.FrameCount];
        int step = 0;
        Func<string> context = () => $"seed {seed} step {step} ({(history.Count > step ? history[step].ToString() : "in progress")})\nlast ops:\n{Tail(history)}\n";

        lock (memory.SyncRoot)
        {
            for (; step < ops; step++)
            {
                Span<PageInfo> pages = PageTypeInvariantChecker.AllPages(memory);
                pages.CopyTo(before);
                foreach (FakePageTableOwner owner in world.Owners)
                    owner.ClearRecords();
                Op op;
                try
                {
                    op = Step(world, stats);
                }
                catch (Exception e)
                {
                    Assert.Fail($"{context()}{e}");
                    throw;
                }
                history.Add(op);
                if (op.Rc is not (0 or -XenErrno.EINVAL or -XenErrno.EBUSY or -XenErrno.EPERM))
                    Assert.Fail($"{context()}: unexpected result {op.Rc}");
                if (op.Rc != 0)
                    AssertUnchanged(pages, before, checker, context);
                int newlyValidated = CheckValidationChanges(world, pages, before, stats, context);
                if ((op is { Kind: OpKind.Pin, Arg: 4, Rc: 0 } || op is { Kind: OpKind.BuildAndPin, Arg: 0 }) && newlyValidated >= 4)
                    stats.DeepL4Pins++;
                checker.Check(context);
                stats.MaxLiveEntries = Math.Max(stats.MaxLiveEntries, checker.LiveEntries);
            }
        }
        return stats;
    }

    private static int PickLevel(Random rng) => rng.Next(20) switch
    {
        < 8 => 1,
        < 13 => 2,
        < 17 => 3,
        _ => 4,
    };

    private static Op Step(World w, Stats stats)
    {
        Random rng = w.Rng;
        int o = rng.Next(2);
        FakePageTableOwner owner = w.Owners[o];
        int roll = rng.Next(100);
        if (roll < 45)
            return Update(w, o, stats);
        if (roll < 48)
            return BuildAndPin(w, o, stats);
        if (roll < 68)
        {
            ulong mfn = PickFrame(w, o, preferTables: false);
            int level = rng.Next(10) < 7 && w.Intended.TryGetValue(mfn, out int intended) ? intended : rng.Next(1, 5);
            int rc = w.Types.Pin(mfn, PageTableRules.TableType(level), owner);
            if (rc == 0)
            {
                stats.PinnedAtLevel[level]++;
                ref PageInfo p = ref w.Memory.Page(mfn);
                if (!p.IsPinned || !p.IsValidated || w.Memory.TypeOf(mfn) != PageTableRules.TableType(level))
                    Assert.Fail($"pinned {mfn:x} as L{level}, but it is no pinned live L{level}");
            }
            return new Op(OpKind.Pin, owner.Id, mfn, level, 0, false, rc);
        }
        if (roll < 84)
        {
            ulong mfn = rng.Next(4) == 0 ? PickFrame(w, o, preferTables: false) : PickPinned(w, o);
            int rc = w.Types.Unpin(mfn, owner);
            if (rc == 0)
                if (w.Memory.Page(mfn).IsPinned && w.Memory.Page(mfn).Owner == owner.Id)
                    Assert.Fail($"unpinned {mfn:x} still pinned");
            return new Op(OpKind.Unpin, owner.Id, mfn, 0, 0, false, rc);
        }
        if (roll < 92)
        {
            ulong mfn = PickFrame(w, o, preferTables: rng.Next(2) == 0);
            ulong freeBefore = w.Memory.FreeFrames;
            int rc = w.Types.ReleaseAllocation(mfn, owner);
            if (rc == 0)
            {
                if (w.Memory.Page(mfn).IsAllocated && w.Memory.Page(mfn).Owner == owner.Id)
                    Assert.Fail($"released {mfn:x} still allocated");
                stats.Frees += (int)(w.Memory.FreeFrames - freeBefore);
            }
            return new Op(OpKind.Release, owner.Id, mfn, 0, 0, false, rc);
        }
        if (w.Memory.FreeFrames == 0 || w.Frames[o].Count > 3 * FramesPerOwner)
            return new Op(OpKind.Allocate, owner.Id, 0, 0, 0, false, 0);
        ulong fresh = w.Memory.Allocate(owner.Id);
        if (!w.Frames[o].Contains(fresh))
            w.Frames[o].Add(fresh);
        w.Intended[fresh] = PickLevel(rng);
        if (Entries(w.Memory, fresh).IndexOfAnyExcept(0UL) >= 0)
            Assert.Fail($"the pool handed out {fresh:x} unscrubbed");
        return new Op(OpKind.Allocate, owner.Id, fresh, 0, 0, false, 0);
    }

    /// <summary>
    /// What a guest does to build a new address space: an L4 -> L3 -> L2 -> L1 chain of its frames
    /// (raw writes, or checked updates where a frame is already a live table), then pin the L4.
    /// Reported with Rc 0 since the writes stay even when the pin fails; Arg is the pin's result.
    /// </summary>
    private static Op BuildAndPin(World w, int o, Stats stats)
    {
        FakePageTableOwner owner = w.Owners[o];
        Span<ulong> chain = stackalloc ulong[5];
        for (int level = 1; level <= 4; level++)
            chain[level] = PickIntended(w, o, level);
        for (int level = 4; level >= 2; level--)
        {
            ulong pointer = (chain[level] << MachineMemory.PageShift) + (ulong)w.Rng.Next(8) * sizeof(ulong);
            int rc = w.Types.UpdateEntry(pointer, Pte.Make(chain[level - 1], Pte.Present | Pte.Writable | Pte.User), false, owner);
            if (rc is not (0 or -XenErrno.EINVAL or -XenErrno.EBUSY or -XenErrno.EPERM))
                Assert.Fail($"chain update of {chain[level]:x}: unexpected result {rc}");
        }
        int pin = w.Types.Pin(chain[4], FrameType.L4PageTable, owner);
        if (pin == 0)
            stats.PinnedAtLevel[4]++;
        return new Op(OpKind.BuildAndPin, owner.Id, chain[4], pin, 0, false, 0);
    }

    private static Op Update(World w, int o, Stats stats)
    {
        Random rng = w.Rng;
        FakePageTableOwner owner = w.Owners[o];
        ulong mfn = PickFrame(w, o, preferTables: rng.Next(10) < 7);
        bool mine = w.Memory.OwnerOf(mfn) == owner.Id && w.Memory.Page(mfn).RefCount > 0;
        ref PageInfo page = ref w.Memory.Page(mfn);
        bool live = mine && page.IsValidated;
        int level = live ? PageTableRules.LevelOf(page.Type) : w.Intended.GetValueOrDefault(mfn, rng.Next(1, 5));

        int index = level == 4
            ? rng.Next(10) switch
            {
                < 6 => rng.Next(8),
                6 => 256 + rng.Next(16),
                7 => 272 + rng.Next(8),
                _ => rng.Next(512),
            }
            : rng.Next(5) == 0 ? rng.Next(512) : rng.Next(8);
        ulong old = w.Memory.IsValidFrame(mfn) ? Entries(w.Memory, mfn)[index] : 0;
        bool fast = live && (old & Pte.Present) != 0 && rng.Next(3) == 0;
        ulong value = fast ? FlipWhitelisted(rng, old) : RandomEntry(w, o, mfn, level);
        bool preserveAd = rng.Next(5) == 0;

        ulong pointer = (mfn << MachineMemory.PageShift) + (ulong)index * sizeof(ulong);
        int rc = w.Types.UpdateEntry(pointer, value, preserveAd, owner);

        ulong now = w.Memory.IsValidFrame(mfn) ? Entries(w.Memory, mfn)[index] : 0;
        if (!mine)
        {
            if (rc != -XenErrno.EINVAL || now != old)
                Assert.Fail($"update of a frame not owned: rc {rc}, entry {old:x16} -> {now:x16}");
        }
        else if (!live)
        {
            // Anything that is no live table is written verbatim (the caller never uses segment descriptors here).
            if (rc != 0 || now != value)
                Assert.Fail($"raw write: rc {rc}, entry {now:x16}, wrote {value:x16}");
            stats.RawWrites++;
        }
        else
        {
            stats.LiveUpdates++;
            if (rc != 0)
            {
                stats.LiveUpdateFailures++;
                if (now != old || owner.ShadowSyncs.Count != 0)
                    Assert.Fail($"refused update changed the entry {old:x16} -> {now:x16} or queued {owner.ShadowSyncs.Count} syncs");
            }
            else
            {
                // update_intpte ORs the live entry's A/D into whatever is stored, present or not;
                // only a present value is adjusted.
                ulong expected = preserveAd ? value | (old & (Pte.Accessed | Pte.Dirty)) : value;
                if ((value & Pte.Present) != 0)
                {
                    expected = PageTableRules.Adjust(expected, level);
                    if ((old & Pte.Present) != 0 && ((old ^ expected) & PageTableRules.ReferenceBits) == 0)
                        stats.FastPaths++;
                }
                if (now != expected)
                    Assert.Fail($"entry {old:x16} -> {now:x16}, expected {expected:x16}");
                bool mustSync = (old & Pte.Present) != 0 && now != old;
                if (mustSync && !owner.ShadowSyncs.Contains(pointer))
                    Assert.Fail($"entry {old:x16} -> {now:x16} replaced without QueueShadowSync({pointer:x})");
                if (owner.ShadowSyncs.Exists(a => a != pointer))
                    Assert.Fail($"shadow syncs of other entries: {string.Join(", ", owner.ShadowSyncs.Select(a => a.ToString("x")))}");
                if (level > 1 && (now & Pte.Present) != 0 && Pte.Mfn(now) != mfn
                    && w.Memory.Page(Pte.Mfn(now)).Type == PageTableRules.TableType(level))
                    stats.LinearTargets++;
            }
        }
        return new Op(OpKind.Update, owner.Id, mfn, index, value, preserveAd, rc);
    }

    /// <summary>Changes only bits the fast path lets through (and occasionally RW, which it must not).</summary>
    private static ulong FlipWhitelisted(Random rng, ulong old)
    {
        ulong value = old;
        int flips = rng.Next(1, 4);
        for (int i = 0; i < flips; i++)
            value ^= WhitelistBits[rng.Next(WhitelistBits.Length)];
        if (rng.Next(6) == 0)
            value ^= Pte.Writable;
        return value;
    }

    private static ulong RandomEntry(World w, int o, ulong table, int level)
    {
        Random rng = w.Rng;
        if (rng.Next(5) == 0)
            return rng.Next(2) == 0 ? 0 : (ulong)rng.NextInt64() & ~Pte.Present;

        ulong target;
        bool linearCandidate = false;
        int pick = rng.Next(100);
        if (level == 1)
        {
            target = pick switch
            {
                < 70 => PickFrame(w, o, preferTables: false),
                < 80 => Any(rng, w.Frames[1 - o]),
                < 90 => RandomMfn(w),
                _ => table,
            };
        }
        else
        {
            linearCandidate = pick is >= 50 and < 80;
            target = pick switch
            {
                < 50 => PickIntended(w, o, level - 1),
                < 70 => PickLiveTable(w, o, level) ?? PickIntended(w, o, level),
                < 80 => table,
                < 90 => PickFrame(w, o, preferTables: false),
                < 95 => Any(rng, w.Frames[1 - o]),
                _ => RandomMfn(w),
            };
        }

        ulong flags = Pte.Present;
        if (rng.Next(linearCandidate ? 5 : 2) == 0)
            flags |= Pte.Writable;
        if (rng.Next(2) == 0)
            flags |= Pte.User;
        if (rng.Next(4) == 0)
            flags |= WhitelistBits[rng.Next(WhitelistBits.Length)];
        if (level == 1 && rng.Next(8) == 0)
            flags |= Pte.Global;
        if (rng.Next(25) == 0)
            flags |= PageTableRules.Pwt << rng.Next(2) | (level > 1 && rng.Next(2) == 0 ? Pte.Global | Pte.LargePage : PageTableRules.Pat4K);
        return Pte.Make(target, flags);
    }

    private static ulong RandomMfn(World w) => w.Rng.Next(4) switch
    {
        0 => 0,
        1 => w.Memory.FrameCount + (ulong)w.Rng.Next(64),
        2 => (ulong)w.Rng.NextInt64(1L << 40),
        _ => (ulong)w.Rng.NextInt64((long)w.Memory.FrameCount),
    };

    private static ulong Any(Random rng, List<ulong> frames) => frames[rng.Next(frames.Count)];

    /// <summary>Mostly one of the owner's frames (live tables if asked), sometimes the other's or any at all.</summary>
    private static ulong PickFrame(World w, int o, bool preferTables)
    {
        int roll = w.Rng.Next(100);
        if (roll < 4)
            return Any(w.Rng, w.Frames[1 - o]);
        if (roll < 6)
            return RandomMfn(w) % w.Memory.FrameCount;
        if (preferTables)
        {
            ulong? table = PickLiveTable(w, o, 0);
            if (table is ulong t)
                return t;
        }
        return Any(w.Rng, w.Frames[o]);
    }

    private static ulong PickIntended(World w, int o, int level)
    {
        List<ulong> frames = w.Frames[o];
        int start = w.Rng.Next(frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            ulong mfn = frames[(start + i) % frames.Count];
            if (w.Intended.GetValueOrDefault(mfn) == level && w.Memory.OwnerOf(mfn) == w.Owners[o].Id)
                return mfn;
        }
        return frames[start];
    }

    /// <summary>One of the owner's pinned tables if it has any, else any of its frames.</summary>
    private static ulong PickPinned(World w, int o)
    {
        List<ulong> frames = w.Frames[o];
        int start = w.Rng.Next(frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            ulong mfn = frames[(start + i) % frames.Count];
            ref PageInfo p = ref w.Memory.Page(mfn);
            if (p.Owner == w.Owners[o].Id && p.IsPinned)
                return mfn;
        }
        return frames[start];
    }

    /// <summary>A validated table of <paramref name="level"/> (0: any level) the owner holds, if there is one.</summary>
    private static ulong? PickLiveTable(World w, int o, int level)
    {
        List<ulong> frames = w.Frames[o];
        int start = w.Rng.Next(frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            ulong mfn = frames[(start + i) % frames.Count];
            ref PageInfo p = ref w.Memory.Page(mfn);
            if (p.Owner == w.Owners[o].Id && p.IsValidated && (level == 0 || PageTableRules.LevelOf(p.Type) == level))
                return mfn;
        }
        return null;
    }

    private static Span<ulong> Entries(MachineMemory memory, ulong mfn) => MemoryMarshal.Cast<byte, ulong>(memory.Frame(mfn));

    /// <summary>
    /// A refused operation changes no count, flag or owner anywhere, nor any frame's counted type
    /// (a failed validation may leave a new type on a frame whose type count is back at zero).
    /// </summary>
    private static void AssertUnchanged(Span<PageInfo> pages, PageInfo[] before, PageTypeInvariantChecker checker, Func<string> context)
    {
        if (MemoryMarshal.AsBytes(pages).SequenceEqual(MemoryMarshal.AsBytes(before.AsSpan())))
            return;
        for (int mfn = 0; mfn < pages.Length; mfn++)
        {
            PageInfo now = pages[mfn], was = before[mfn];
            bool sameType = now.Type == was.Type || (now.TypeCount == 0 && was.TypeCount == 0);
            if (now.Owner != was.Owner || now.Flags != was.Flags || now.RefCount != was.RefCount || now.TypeCount != was.TypeCount
                || now.LinearEntries != was.LinearEntries || now.LinearUses != was.LinearUses || !sameType)
            {
                Assert.Fail($"{context()}: failed, yet mfn {mfn:x} changed from [owner {was.Owner} type {was.Type} flags {was.Flags} "
                    + $"ref {was.RefCount} type# {was.TypeCount} linE {was.LinearEntries} linU {was.LinearUses}] to {checker.Describe((ulong)mfn)}");
            }
        }
    }

    /// <summary>
    /// Every table that stopped being validated was reported to its owner for a shadow drop.
    /// Returns how many frames became validated.
    /// </summary>
    private static int CheckValidationChanges(World w, Span<PageInfo> pages, PageInfo[] before, Stats stats, Func<string> context)
    {
        int newlyValidated = 0;
        for (int mfn = 1; mfn < pages.Length; mfn++)
        {
            bool was = (before[mfn].Flags & PageFlags.Validated) != 0, now = (pages[mfn].Flags & PageFlags.Validated) != 0;
            if (now && !was)
                newlyValidated++;
            if (!was || now)
                continue;
            stats.Devalidations++;
            FakePageTableOwner? owner = Array.Find(w.Owners, x => x.Id == before[mfn].Owner);
            if (owner is null || !owner.ShadowDrops.Contains((ulong)mfn))
                Assert.Fail($"{context()}: mfn {mfn:x} was devalidated without a QueueShadowDrop");
        }
        return newlyValidated;
    }

    private static string Tail(List<Op> history) => string.Join('\n', history.TakeLast(25));
}
