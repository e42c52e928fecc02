import org.openmetadata.secrets.wasm.OmSecrets;
import org.openmetadata.secrets.wasm.Subject;

public class Example {
  public static void main(String[] args) {
    String mysql = "{\"type\":\"Mysql\",\"username\":\"om\",\"authType\":{\"password\":\"my-s3cret\"},\"hostPort\":\"db:3306\"}";
    try (OmSecrets om = OmSecrets.fromEnvironment()) { // the embedded default: ./.om-secrets
      Subject svc = Subject.service("database", "mysql-prod");
      String stored = om.seal(svc, mysql); // {"authType":{"password":"fernet:gAAAA…"}, …}
      System.out.println("stored: " + stored);
      System.out.println("masked: " + om.mask(svc, stored)); // "password":"*********"
      System.out.println("revealed: " + om.reveal(svc, stored, false)); // "password":"my-s3cret"
    }
  }
}
