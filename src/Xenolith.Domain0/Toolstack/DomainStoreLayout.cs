using System.Globalization;
using Xenolith.Domain0.Xenstore;

namespace Xenolith.Domain0.Toolstack;

/// <summary>What the toolstack knows of a domain when it writes its xenstore nodes.</summary>
public sealed record DomainStoreInfo(ushort DomId, string Name, Guid Uuid, ulong MemoryKiB, int Vcpus,
    ulong StoreMfn, uint StorePort, ulong ConsoleMfn, uint ConsolePort)
{
    /// <summary>The kernel's file, if it came from one (libxl's image/kernel).</summary>
    public string? KernelPath { get; init; }
    public string CommandLine { get; init; } = "";

    public string DomainPath => $"/local/domain/{DomId.ToString(CultureInfo.InvariantCulture)}";
    public string VmPath => $"/vm/{Uuid:D}";
    public string LibxlPath => $"/libxl/{DomId.ToString(CultureInfo.InvariantCulture)}";
    public string ConsoleBackendPath => $"/local/domain/0/backend/console/{DomId.ToString(CultureInfo.InvariantCulture)}/0";
}

/// <summary>
/// The xenstore layout xl writes for a domain (libxl__domain_make, libxl__build_post,
/// libxl__device_console_add; docs/misc/xenstore-paths.pandoc), with libxl's permissions:
/// <list type="bullet">
/// <item>read-only for the domain ("n0", "r&lt;id&gt;"): /local/domain/&lt;id&gt; and what is written under it
/// by default (name, domid, vm, memory/, cpu/, store/, device/, control/), /vm/&lt;uuid&gt;, and the
/// console's values (ring-ref, port, limit, type, output, tty);</item>
/// <item>the domain's own ("n&lt;id&gt;"): control/shutdown, control/feature-*, control/sysrq,
/// device/suspend/event-channel, data, drivers, feature, attr, error, and the console frontend
/// directory with its backend and backend-id;</item>
/// <item>Domain0's only ("n0"): /libxl/&lt;id&gt;.</item>
/// </list>
/// The console's backend lives at /local/domain/0/backend/console/&lt;id&gt;/0 ("n0", "r&lt;id&gt;").
/// </summary>
public static class DomainStoreLayout
{
    /// <summary>LIBXL_XENCONSOLE_LIMIT: how much console output xenconsoled buffers.</summary>
    public const int ConsoleLimit = 1048576;

    /// <summary>What xen-init-dom0 writes for Domain0 itself.</summary>
    public static void WriteDomain0(XenstoreLocalClient xs)
    {
        xs.Write("/local/domain/0/name", "Domain-0");
        xs.Write("/local/domain/0/domid", "0");
    }

    /// <summary>Writes every node for a freshly built domain, in one transaction as libxl does.</summary>
    public static void Create(XenstoreLocalClient xs, DomainStoreInfo info)
    {
        string id = info.DomId.ToString(CultureInfo.InvariantCulture);
        string dom = info.DomainPath;
        string vm = info.VmPath;
        string[] readOnly = ["n0", "r" + id];
        string[] domainOwned = ["n" + id];
        string[] toolstackOnly = ["n0"];
        string[] frontend = ["n" + id, "r0"];

        xs.InTransaction(tx =>
        {
            void Node(string path, string[] acl)
            {
                xs.Mkdir(path, tx);
                xs.SetPermissions(path, acl, tx);
            }
            void Value(string path, string value, string[]? acl = null)
            {
                xs.Write(path, value, tx);
                if (acl is not null)
                    xs.SetPermissions(path, acl, tx);
            }

            // libxl__domain_make
            xs.Remove(dom, tx);
            Node(dom, readOnly);
            xs.Remove(vm, tx);
            Node(vm, readOnly);
            xs.Remove(info.LibxlPath, tx);
            Node(info.LibxlPath, toolstackOnly);
            Node(info.LibxlPath + "/device", toolstackOnly);
            Value(dom + "/vm", vm);
            Value(dom + "/name", info.Name);
            foreach (string directory in new[] { "cpu", "memory", "device", "control" })
                Node($"{dom}/{directory}", readOnly);
            foreach (string writable in new[]
                     {
                         "control/shutdown", "control/feature-poweroff", "control/feature-reboot", "control/feature-suspend",
                         "control/sysrq", "device/suspend/event-channel", "data", "drivers", "feature", "attr", "error",
                     })
                Node($"{dom}/{writable}", domainOwned);
            Value(vm + "/uuid", info.Uuid.ToString("D"));
            Value(vm + "/name", info.Name);
            Value(dom + "/control/platform-feature-multiprocessor-suspend", "1");
            Value(dom + "/control/platform-feature-xs_reset_watches", "1");
            Value(info.LibxlPath + "/type", "pv");

            // libxl__build_post, and the /vm entries libxl__domain_build gives a PV domain
            string memory = info.MemoryKiB.ToString(CultureInfo.InvariantCulture);
            Value(dom + "/memory/static-max", memory);
            Value(dom + "/memory/target", memory);
            Value(dom + "/memory/videoram", "0");
            Value(dom + "/domid", id);
            Value(dom + "/store/port", info.StorePort.ToString(CultureInfo.InvariantCulture));
            Value(dom + "/store/ring-ref", info.StoreMfn.ToString(CultureInfo.InvariantCulture));
            for (int vcpu = 0; vcpu < info.Vcpus; vcpu++)
                Value($"{dom}/cpu/{vcpu.ToString(CultureInfo.InvariantCulture)}/availability", "online");
            Value(vm + "/image/ostype", "linux");
            if (info.KernelPath is not null)
                Value(vm + "/image/kernel", info.KernelPath);
            if (info.CommandLine.Length > 0)
                Value(vm + "/image/cmdline", info.CommandLine);
            Value(vm + "/start_time", (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("F2", CultureInfo.InvariantCulture));

            // libxl__device_console_add for the primary PV console: the frontend is the domain's,
            // the values it must not change are Domain0's, the backend is Domain0's.
            string console = dom + "/console";
            xs.Remove(console, tx);
            Node(console, frontend);
            Value(console + "/backend", info.ConsoleBackendPath);
            Value(console + "/backend-id", "0", frontend);
            Value(console + "/limit", ConsoleLimit.ToString(CultureInfo.InvariantCulture), readOnly);
            Value(console + "/type", "xenconsoled", readOnly);
            Value(console + "/output", "pty", readOnly);
            Value(console + "/tty", "", readOnly);
            Value(console + "/port", info.ConsolePort.ToString(CultureInfo.InvariantCulture), readOnly);
            Value(console + "/ring-ref", info.ConsoleMfn.ToString(CultureInfo.InvariantCulture), readOnly);
            string backend = info.ConsoleBackendPath;
            xs.Remove(backend, tx);
            Node(backend, readOnly);
            Value(backend + "/frontend", console);
            Value(backend + "/frontend-id", id);
            Value(backend + "/online", "1");
            Value(backend + "/state", "1");
            Value(backend + "/protocol", "vt100");
        });
    }

    /// <summary>What xl removes when it destroys the domain: its nodes, its /vm and /libxl entries, its backends.</summary>
    public static void Destroy(XenstoreLocalClient xs, DomainStoreInfo info)
    {
        xs.InTransaction(tx =>
        {
            xs.Remove(info.DomainPath, tx);
            xs.Remove(info.VmPath, tx);
            xs.Remove(info.LibxlPath, tx);
            xs.Remove($"/local/domain/0/backend/console/{info.DomId.ToString(CultureInfo.InvariantCulture)}", tx);
        });
    }
}
