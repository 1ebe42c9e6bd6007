from common.migrations import run_env
from plans.models import Base

run_env(Base.metadata)
