"""ML2 mechanism driver for the dev OpenStack: binds every port to any host (no L2 agent runs).

Neutron only binds a port when a mechanism driver accepts the host; agent-based drivers
(openvswitch, ...) need a live agent reporting from that host. With no dataplane here, this
driver binds the first segment as an OVS port, ACTIVE, so Nova's fake compute gets a bound
port exactly as it would on a real site.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAnyHost(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
