"""JupyterHub for one chainrule class on this machine: started by hubctl.py (`make hub`), never by hand.

hubctl.py writes the instance's settings (ports, accounts, folders) to a root-only JSON file named by
$CHAINRULE_HUB_SETTINGS; this file turns them into JupyterHub's configuration:

- the proxy is configurable-http-proxy from npm (deploy/hub/node_modules, `npm ci`), on 127.0.0.1;
- accounts are unix accounts (accounts.CourseAccounts, a LocalAuthenticator that creates them), and
  each single-user server runs as its account (LocalProcessSpawner) from this project's Python;
- each server's Jupyter config path is its role's folder, roles/student or roles/instructor, then
  roles/common: students get the assignment list (fetch, validate, submit, fetch feedback) and their
  notebooks, without formgrader, course list or "Create Assignment"; the instructor gets all of
  nbgrader; nobody gets JupyterLab's news popup.
"""
import json
import os
import pwd
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from accounts import CourseAccounts  # noqa: E402

c = get_config()  # noqa: F821
S = json.loads(Path(os.environ["CHAINRULE_HUB_SETTINGS"]).read_text())
private = Path(S["state"]) / "private"

c.JupyterHub.bind_url = f"http://127.0.0.1:{S['port']}"
# Each account's server on its own origin (<name>.localhost, which browsers resolve to this machine):
# no student's page shares an origin with the instructor's server, so the instructor's JupyterLab may
# frame its own formgrader (roles/instructor) without letting a student's page script into it.
c.JupyterHub.subdomain_host = f"http://localhost:{S['port']}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{S['hub_port']}"
c.JupyterHub.db_url = f"sqlite:///{private / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(private / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(private / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [S["proxy"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{S['api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(private / "proxy.pid")
c.JupyterHub.cleanup_servers = True   # stopping the hub stops every single-user server
c.JupyterHub.cleanup_proxy = True

# Accounts: no hub admin; the instructor needs none (grading is the CLI and formgrader in their own server).
c.JupyterHub.authenticator_class = CourseAccounts
c.CourseAccounts.passwords = json.loads((private / "accounts.json").read_text())
c.CourseAccounts.allowed_users = {S["instructor"], *S["students"]}
c.CourseAccounts.admin_users = set()
c.CourseAccounts.instructor = S["instructor"]
c.CourseAccounts.course_source = S["course"]
c.CourseAccounts.exchange = S["exchange"]
c.CourseAccounts.course_id = S["course_id"]
c.CourseAccounts.record = str(private / "created_users")
c.CourseAccounts.create_system_users = True
c.CourseAccounts.add_user_cmd = ["useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
                                 "--base-dir", S["home_base"], "-K", "HOME_MODE=0700",
                                 "--comment", "chainrule hub account"]

# Servers: this project's Python (jupyterlab, nbgrader, chainrule_utils), JupyterLab, the role's config.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(Path(S["python_bin"]) / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180


def role_environment(spawner):
    """The role's Jupyter config path and what nbgrader needs to find the exchange and the course."""
    name = spawner.user.name
    role = "instructor" if name == S["instructor"] else "student"
    env = {
        "PATH": f"{S['python_bin']}:/usr/local/bin:/usr/bin:/bin",
        "JUPYTER_CONFIG_PATH": os.pathsep.join([str(HERE / "roles" / role), str(HERE / "roles" / "common")]),
        "CHAINRULE_EXCHANGE": S["exchange"],
        "CHAINRULE_COURSE_ID": S["course_id"],
    }
    if role == "instructor":
        env["CHAINRULE_COURSE_ROOT"] = str(Path(pwd.getpwnam(name).pw_dir) / "chainrule")
    spawner.environment.update(env)
    # a student's ~/.jupyter cannot switch formgrader back on (what protects grades is the instructor's
    # 0700 home and the exchange's permissions; this keeps the student's view as configured)
    spawner.disable_user_config = role == "student"


c.Spawner.pre_spawn_hook = role_environment
