"""What a manager holds when `setup` makes it: the old manager's workload, or an empty new manager.

IDs are fixed (no randomness) so tests can name what they expect after a restore.
"""
from . import util
from .store import password_hash

OLD_ADMIN_PASSWORD = "old-admin-pw"
NEW_ADMIN_PASSWORD = "new-admin-pw"

# blueprint id -> (tenant, description)
OLD_BLUEPRINTS = {
    "web-app": ("default_tenant", "Web front end on two VMs"),
    "db-cluster": ("default_tenant", "PostgreSQL pair"),
    "monitoring": ("ops", "Prometheus and Grafana"),
}
# deployment id -> (blueprint id, number of VMs, i.e. agents)
OLD_DEPLOYMENTS = {
    "web-prod": ("web-app", 2),
    "web-staging": ("web-app", 1),
    "db-main": ("db-cluster", 2),
    "monitoring-1": ("monitoring", 1),
}


def base_data(admin_password, tenants, hash_salt):
    # The bootstrap admin is user id 0 (rest-service models.User.is_bootstrap_admin). Hashes use the
    # hash_salt of the creating host's rest-security.conf, as flask-security does.
    return {
        "tenants": [{"name": t, "created_at": util.now_iso()} for t in tenants],
        "users": [{"id": 0, "username": "admin", "role": "sys_admin", "is_bootstrap_admin": True,
                   "password_hash": password_hash(admin_password, hash_salt),
                   "tenants": {t: "manager" for t in tenants}}],
        "blueprints": [], "deployments": [], "node_instances": [], "secrets": [],
        "credentials": [], "events": [], "logs": [],
    }


def new_manager_data(hash_salt):
    return base_data(NEW_ADMIN_PASSWORD, ["default_tenant"], hash_salt)


def node_instances(dep_id, tenant, vms, manager_name, first_ip):
    """VM instances (each with an agent on the old manager) and an app instance on the first VM."""
    out = []
    for i in range(vms):
        vm_id = "vm_%s_%d" % (dep_id.replace("-", ""), i + 1)
        out.append({"id": vm_id, "node_id": "vm", "deployment_id": dep_id, "tenant_name": tenant,
                    "state": "started", "host_id": vm_id,
                    "agent": {"name": vm_id, "ip": "10.0.0.%d" % (first_ip + i), "version": util.VERSIONS["old"],
                              "manager": manager_name, "install_method": "remote", "state": "started"}})
    host = out[0]["id"]
    out.append({"id": "app_%s_1" % dep_id.replace("-", ""), "node_id": "app", "deployment_id": dep_id,
                "tenant_name": tenant, "state": "started", "host_id": host, "agent": None})
    return out


def old_manager_data(manager_name, hash_salt):
    data = base_data(OLD_ADMIN_PASSWORD, ["default_tenant", "ops"], hash_salt)
    data["users"].append({"id": 1, "username": "ops-user", "role": "default", "is_bootstrap_admin": False,
                          "password_hash": password_hash("ops-user-pw", hash_salt),
                          "tenants": {"ops": "operations"}})
    now = util.now_iso()
    for bp_id, (tenant, desc) in OLD_BLUEPRINTS.items():
        data["blueprints"].append({"id": bp_id, "tenant_name": tenant, "description": desc,
                                   "main_file_name": "blueprint.yaml", "created_at": now, "updated_at": now,
                                   "visibility": "tenant", "created_by": "admin", "state": "uploaded"})
    ip = 10
    for dep_id, (bp_id, vms) in OLD_DEPLOYMENTS.items():
        tenant = OLD_BLUEPRINTS[bp_id][0]
        data["deployments"].append({"id": dep_id, "blueprint_id": bp_id, "tenant_name": tenant,
                                    "created_at": now, "updated_at": now, "visibility": "tenant",
                                    "created_by": "admin", "site_name": None})
        data["node_instances"] += node_instances(dep_id, tenant, vms, manager_name, ip)
        ip += vms
        data["events"].append({"deployment_id": dep_id, "tenant_name": tenant, "timestamp": now,
                               "message": "'install' workflow execution succeeded"})
    data["secrets"].append({"key": "db_password", "value": "s3cr3t-lab", "tenant_name": "default_tenant",
                            "visibility": "tenant", "created_at": now, "created_by": "admin"})
    data["credentials"].append({"name": "agent_key", "tenant_name": "default_tenant",
                                "private_key": "-----BEGIN LAB KEY-----\nnot-a-real-key\n-----END LAB KEY-----"})
    data["logs"].append({"timestamp": now, "logger": "cloudify-restservice", "message": "manager seeded by setup"})
    return data
