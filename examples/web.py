from fastapi import FastAPI
from pydantic import BaseModel

from examples.emails import send_welcome_email

app = FastAPI()


class SignUp(BaseModel):
    email: str
    name: str


@app.post("/signups", status_code=202)
async def sign_up(body: SignUp) -> dict[str, str]:
    handle = await send_welcome_email.trigger({"to": body.email, "name": body.name})
    return {"job_id": handle.id}
