namespace Xenolith.Abi;

/// <summary>
/// struct xenstore_domain_interface (xen/include/public/io/xs_wire.h): the xenstore ring page a
/// guest shares with xenstored. Two byte rings with free-running 32-bit indices (an index is
/// masked with <see cref="RingSize"/> - 1 only to address a byte), then the reconnection and
/// error fields.
/// </summary>
public static class XenstoreInterface
{
    /// <summary>XENSTORE_RING_SIZE: bytes in each direction.</summary>
    public const int RingSize = 1024;

    /// <summary>char req[1024]: requests to xenstored.</summary>
    public const int Request = 0;
    /// <summary>char rsp[1024]: replies and watch events to the guest.</summary>
    public const int Response = 1024;
    public const int RequestConsumer = 2048;
    public const int RequestProducer = 2052;
    public const int ResponseConsumer = 2056;
    public const int ResponseProducer = 2060;
    /// <summary>uint32_t server_features: what xenstored supports (XENSTORE_SERVER_FEATURE_*).</summary>
    public const int ServerFeatures = 2064;
    /// <summary>uint32_t connection: XENSTORE_CONNECTED or XENSTORE_RECONNECT.</summary>
    public const int Connection = 2068;
    /// <summary>uint32_t error: XENSTORE_ERROR_*, set by xenstored when it gives up on the ring.</summary>
    public const int Error = 2072;

    public const uint FeatureReconnection = 1;
    public const uint FeatureError = 2;

    public const uint Connected = 0;
    public const uint Reconnect = 1;

    public const uint ErrorNone = 0;
    public const uint ErrorCommunication = 1;
    /// <summary>An index moved further than the ring holds.</summary>
    public const uint ErrorRingIndex = 2;
    /// <summary>A message announced a payload longer than XENSTORE_PAYLOAD_MAX.</summary>
    public const uint ErrorProtocol = 3;
}
