package target

import (
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/prcluster"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// clusterReservations opens the reservation store an "rbd" LUN shares with every
// gateway that exports the same image (actors/prcluster): nil for other LUNs and
// for rbd.localReservations. It blocks on the cluster, like opening the image.
func clusterReservations(l *pb.Lun, tg *targetLUNs, log hclog.Logger) (*prcluster.Store, error) {
	r := l.GetRbd()
	if l.Backend != "rbd" || r == nil || r.LocalReservations {
		return nil, nil
	}
	return prcluster.OpenRados(prcluster.RadosConfig{Pool: r.Pool, Namespace: r.Namespace, Image: r.Image,
		User: r.User, CephConf: r.CephConf}, tg.relativePort(), log.Named("reservations"))
}

// relativePort is this node's relative target port identifier for the target's
// LUNs: 1, the only port a target has without ALUA port groups (with them, the
// local group's id).
func (tg *targetLUNs) relativePort() uint16 {
	return 1
}
