from common.migrations import run_env
from signing.models import Base

run_env(Base.metadata)
