// Where the pieces of a container machine live on the host. Every name is
// derived from the machine's id, so clean-up finds a machine's mounts,
// container, cgroups and network link without the store.
//
//   DATA/machines/.disks/<id>.ext4    the machine's disk: a sparse ext4 image
//   DATA/machines/<id>/               that disk, mounted (loop):
//     data/, work/                    the overlay's upper and work dirs
//     root/                           the overlay: the artifact under data/
//     host/                           the driver's files, never in the machine's view:
//       placement.json                what adopt() and destroy() need to know
//       config.json                   the OCI bundle
//       netns                         its network namespace (nsfs bind mount)
//       start.log, start.status       start command output / state (init writes)
//       runtime.log, init.pid         the OCI runtime's output, init's host pid
//   DATA/machines/.artifacts/<artifact>/  an artifact's rootfs.ext4 (read-only,
//                                         shared by that artifact's machines)
//   DATA/machines/.runtime/           the OCI runtime's state (--root)
//   DATA/machines/.blank/             blank ext4 images, copied per machine
//
// The per-machine files live on the machine's own disk: creating them there
// costs microseconds, where each new file on the data dir's file system may
// cost a millisecond (measured on the development VM), and a machine's start
// creates a dozen. Only the image and the mount point are made on DATA's.
//
// Host-wide names: container `nsm-<id>`, cgroup `/nullspace-machines/<id>` in
// every v1 controller, veth `nsv<12 hex of sha256(id)>` (its alias is the id).
#pragma once

#include <string>
#include <string_view>

namespace nullspace::runtime {

// Ids name host objects and paths: [A-Za-z0-9_-], 1 to 64 characters.
bool valid_machine_id(std::string_view id);
// An artifact id names a dir: [A-Za-z0-9_.-], 1 to 128 characters, no leading dot.
bool valid_artifact_id(std::string_view id);

class machine_layout {
 public:
  explicit machine_layout(std::string data_dir);

  const std::string& machines_dir() const { return machines_; }
  std::string dir(const std::string& id) const { return machines_ + "/" + id; }
  std::string disk_image(const std::string& id) const {
    return machines_ + "/.disks/" + id + ".ext4";
  }
  std::string disks_dir() const { return machines_ + "/.disks"; }
  std::string upper(const std::string& id) const { return dir(id) + "/data"; }
  std::string work(const std::string& id) const { return dir(id) + "/work"; }
  std::string rootfs(const std::string& id) const { return dir(id) + "/root"; }
  std::string host_dir(const std::string& id) const { return dir(id) + "/host"; }
  std::string placement_file(const std::string& id) const {
    return host_dir(id) + "/placement.json";
  }
  std::string bundle(const std::string& id) const { return host_dir(id); }
  std::string netns(const std::string& id) const { return host_dir(id) + "/netns"; }
  std::string start_log(const std::string& id) const { return host_dir(id) + "/start.log"; }
  std::string start_status(const std::string& id) const { return host_dir(id) + "/start.status"; }
  std::string runtime_log(const std::string& id) const { return host_dir(id) + "/runtime.log"; }

  std::string artifact_mount(const std::string& artifact_id) const {
    return machines_ + "/.artifacts/" + artifact_id;
  }
  std::string runtime_root() const { return machines_ + "/.runtime"; }
  std::string blank_dir() const { return machines_ + "/.blank"; }

  static std::string container_id(const std::string& id) { return "nsm-" + id; }
  static std::string cgroup(const std::string& id) { return "/nullspace-machines/" + id; }
  static std::string veth(const std::string& id);  // 15 characters (IFNAMSIZ - 1)

 private:
  std::string machines_;
};

}  // namespace nullspace::runtime
